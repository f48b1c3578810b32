/**
 * The backup schedule: a systemd OnCalendar expression, checked here before
 * it reaches the nodes' timer units. Only a subset of systemd's grammar is
 * accepted, one that is easy to read and whose timing can be worked out
 * exactly: the shorthands, and `[weekdays] [*-month-day] hour:minute[:00]`
 * with `*`, numbers, `a..b` ranges, `start/step` repeats and `,` lists.
 * Pure: `systemd-analyze calendar` cross-checks it in the tests.
 *
 * A backup takes a dump of the whole database and desyncs a Galera node
 * while it runs, so anything more often than every 15 minutes is refused.
 */

export const MIN_INTERVAL_MINUTES = 15;

/** systemd's shorthands that make sense for backups, with the expressions systemd gives them. */
export const SHORTHANDS: Readonly<Record<string, string>> = {
  hourly: '*-*-* *:00:00',
  daily: '*-*-* 00:00:00',
  weekly: 'Mon *-*-* 00:00:00',
  monthly: '*-*-01 00:00:00',
};

const DAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;

export interface Schedule {
  /** Shortest time between two runs, in minutes. */
  minGapMinutes: number;
  /** Longest time between two runs, in minutes (what "the backup is late" is measured against). */
  maxGapMinutes: number;
}

export type ScheduleResult = { ok: true; schedule: Schedule } | { ok: false; problem: string };

const EXAMPLES = 'hourly, daily, weekly, monthly, "*:0/30" (every 30 minutes), "*-*-* 02:30" or "Mon..Fri 0/6:00"';

class Bad extends Error {}

/** The values a component selects, within [min, max]. */
function component(text: string, min: number, max: number, what: string): Set<number> {
  const out = new Set<number>();
  if (text === '*') {
    for (let i = min; i <= max; i++) out.add(i);
    return out;
  }
  const num = (s: string): number => {
    if (!/^[0-9]{1,4}$/.test(s)) throw new Bad(`"${text}" is not a valid ${what}: use numbers, *, a..b, start/step or a,b`);
    const n = Number(s);
    if (n < min || n > max) throw new Bad(`${what} ${n} is out of range (${min}-${max})`);
    return n;
  };
  for (const part of text.split(',')) {
    let m: RegExpMatchArray | null;
    if (part.startsWith('*/')) {
      throw new Bad(`"${part}" is not systemd syntax: write 0/${part.slice(2)} (from 0, every ${part.slice(2)})`);
    } else if ((m = part.match(/^([^./]+)\/([^./]+)$/))) {
      const start = num(m[1]!);
      if (!/^[0-9]{1,4}$/.test(m[2]!) || Number(m[2]) < 1) throw new Bad(`"${part}": the step after / must be a whole number of at least 1`);
      for (let i = start; i <= max; i += Number(m[2])) out.add(i);
    } else if ((m = part.match(/^([^.]+)\.\.([^.]+)$/))) {
      const [a, b] = [num(m[1]!), num(m[2]!)];
      if (a > b) throw new Bad(`"${part}": a range runs from the smaller value to the larger`);
      for (let i = a; i <= b; i++) out.add(i);
    } else {
      out.add(num(part));
    }
  }
  return out;
}

function weekdays(text: string): Set<number> {
  const out = new Set<number>();
  const day = (s: string): number => {
    const i = DAYS.indexOf(s.toLowerCase().slice(0, 3) as (typeof DAYS)[number]);
    if (i < 0 || !/^[a-z]{3}$/i.test(s)) throw new Bad(`"${s}" is not a weekday: use Mon, Tue, Wed, Thu, Fri, Sat or Sun`);
    return i;
  };
  for (const part of text.split(',')) {
    const m = part.match(/^([^.]+)\.\.([^.]+)$/);
    if (!m) {
      out.add(day(part));
      continue;
    }
    const [a, b] = [day(m[1]!), day(m[2]!)];
    if (a > b) throw new Bad(`"${part}": a range of weekdays runs Mon..Sun order`);
    for (let i = a; i <= b; i++) out.add(i);
  }
  return out;
}

interface Parsed {
  days: Set<number>; // 0 = Monday
  months: Set<number>;
  monthDays: Set<number>;
  minutesOfDay: number[];
}

function parse(expr: string): Parsed {
  const text = SHORTHANDS[expr.trim()] ?? expr.trim();
  const words = text.split(/\s+/);
  if (words.length > 3 || text === '') throw new Bad(`use one of ${EXAMPLES}`);
  let days = new Set([0, 1, 2, 3, 4, 5, 6]);
  if (/^[a-z]/i.test(words[0]!)) days = weekdays(words.shift()!);
  let months = component('*', 1, 12, 'month');
  let monthDays = component('*', 1, 31, 'day of the month');
  if (words[0]?.includes('-')) {
    const date = words.shift()!.split('-');
    if (date.length !== 3) throw new Bad(`"${date.join('-')}" is not a date: write *-month-day, e.g. *-*-01`);
    if (date[0] !== '*') throw new Bad('give the year as * (a backup schedule repeats every year)');
    months = component(date[1]!, 1, 12, 'month');
    monthDays = component(date[2]!, 1, 31, 'day of the month');
  }
  let hours = new Set([0]);
  let minutes = new Set([0]);
  if (words.length > 0) {
    const time = words.shift()!.split(':');
    if (time.length < 2 || time.length > 3) throw new Bad(`"${time.join(':')}" is not a time: write hour:minute, e.g. 02:30 or *:0/30`);
    hours = component(time[0]!, 0, 23, 'hour');
    minutes = component(time[1]!, 0, 59, 'minute');
    if (time.length === 3 && !/^0{1,2}$/.test(time[2]!)) throw new Bad('give the seconds as 00 (or leave them out)');
  }
  if (words.length > 0) throw new Bad(`"${words.join(' ')}" is not understood: use one of ${EXAMPLES}`);
  const minutesOfDay = [...hours].flatMap((h) => [...minutes].map((m) => h * 60 + m)).sort((a, b) => a - b);
  return { days, months, monthDays, minutesOfDay };
}

/** Every run in 4 years from 2024-01-01 UTC (a leap year and three others), in minutes from then. */
function runs(p: Parsed): number[] {
  const out: number[] = [];
  const start = Date.UTC(2024, 0, 1);
  for (let d = 0; d < 4 * 366; d++) {
    const date = new Date(start + d * 86_400_000);
    const weekday = (date.getUTCDay() + 6) % 7;
    if (!p.days.has(weekday) || !p.months.has(date.getUTCMonth() + 1) || !p.monthDays.has(date.getUTCDate())) continue;
    for (const m of p.minutesOfDay) out.push(d * 1440 + m);
  }
  return out;
}

/** Checks a schedule: the one-line problem, or how often it runs. */
export function checkSchedule(expr: string): ScheduleResult {
  let parsed: Parsed;
  try {
    parsed = parse(expr);
  } catch (err) {
    if (err instanceof Bad) return { ok: false, problem: err.message };
    throw err;
  }
  const times = runs(parsed);
  if (times.length < 2) return { ok: false, problem: `"${expr}" never runs (or once in years): use one of ${EXAMPLES}` };
  let min = Infinity;
  let max = 0;
  for (let i = 1; i < times.length; i++) {
    const gap = times[i]! - times[i - 1]!;
    min = Math.min(min, gap);
    max = Math.max(max, gap);
  }
  if (min < MIN_INTERVAL_MINUTES)
    return {
      ok: false,
      problem:
        `"${expr}" would run as often as every ${min === 1 ? 'minute' : `${min} minutes`}; backups may run at most every ${MIN_INTERVAL_MINUTES} minutes ` +
        '(each one dumps the whole database): e.g. "*:0/15" or hourly',
    };
  return { ok: true, schedule: { minGapMinutes: min, maxGapMinutes: max } };
}

/** The settings table's validator. */
export const backupSchedule = (v: string): string | undefined => {
  const r = checkSchedule(v);
  return r.ok ? undefined : r.problem;
};
