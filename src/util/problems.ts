/** The first of a verdict's problems, and how many more: for one-line messages ("…, and 2 more"). */
export function problemSummary(s: { problems: string[] }): string {
  return `${s.problems[0] ?? 'unknown'}${s.problems.length > 1 ? `, and ${s.problems.length - 1} more` : ''}`;
}
