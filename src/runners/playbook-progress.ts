/**
 * Where a run of ansible-playbook is, read from its default output: the
 * play (n of the playbook's plays), the task, how many hosts have answered
 * it, and the time since the start. `up` shows it on the ansible phase's
 * status line (a terminal) and prints a line when a play begins, so a
 * 10-minute phase is never one silent line. Pure: no I/O, no clock of its
 * own (`now` is given).
 */

export class PlaybookProgress {
  private play = 0;
  private playName = '';
  private task = '';
  /** Hosts that answered the current task. */
  private readonly answered = new Set<string>();
  /** The most hosts any earlier task of this play answered: the play's size, once a task has run on all of them. */
  private playHosts = 0;

  constructor(
    /** The playbook's plays, when known (countPlays). */
    private readonly plays: number | undefined,
    private readonly startedAt: number,
  ) {}

  /** One line of output; says what it was when it moved the progress on. */
  feed(line: string): 'play' | 'task' | 'host' | undefined {
    let m = /^PLAY \[(.*)\] \**$/.exec(line);
    if (m) {
      this.play++;
      this.playName = m[1]!;
      this.task = '';
      this.answered.clear();
      this.playHosts = 0;
      return 'play';
    }
    m = /^(?:TASK|RUNNING HANDLER) \[(.*)\] \**$/.exec(line);
    if (m) {
      this.playHosts = Math.max(this.playHosts, this.answered.size);
      this.answered.clear();
      this.task = m[1]!;
      return 'task';
    }
    // A host's result: "ok: [host]", "changed: [host] => (item=…)", "fatal: [host -> other]: FAILED!".
    m = /^(?:ok|changed|skipping|fatal|failed|unreachable|rescued|ignored): \[([^\]\s]+)/.exec(line);
    if (m && this.task) {
      this.answered.add(m[1]!);
      return 'host';
    }
    return undefined;
  }

  /** "play 3/7 MariaDB Galera cluster" */
  playLine(now: number): string {
    return `play ${this.play}${this.plays ? `/${this.plays}` : ''} ${this.playName} (${clock(now - this.startedAt)})`;
  }

  /** The status line: the play, the task, hosts done (of the play's, once known), the time since the start. */
  status(now: number): string {
    const parts = [this.play ? `play ${this.play}${this.plays ? `/${this.plays}` : ''} ${this.playName}` : 'starting'];
    if (this.task) {
      const of = Math.max(this.playHosts, this.answered.size);
      parts.push(this.task, `${this.answered.size}${this.playHosts ? `/${of}` : ''} host${of === 1 ? '' : 's'}`);
    }
    parts.push(clock(now - this.startedAt));
    return `ansible: ${parts.join(' · ')}`;
  }
}

/** The plays of a playbook file: its top-level list items (a `- key:` line at column 0 starts each). */
export function countPlays(playbook: string): number {
  return playbook.split('\n').filter((l) => /^- [A-Za-z_.]+:/.test(l)).length;
}

/** m:ss */
function clock(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}
