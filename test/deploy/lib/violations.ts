/** Helpers shared by the rule tests (fly-rules, image-rules). */
export interface NamedViolation {
  rule: string;
  message: string;
}

/** The distinct rules that reported something, sorted. */
export function tripped(problems: NamedViolation[]): string[] {
  return [...new Set(problems.map((p) => p.rule))].sort();
}

/** The expected `rule: message` fragments that no violation contains (expect it to be []). */
export function missing(problems: NamedViolation[], fragments: string[]): string[] {
  const lines = problems.map((p) => `${p.rule}: ${p.message}`);
  return fragments.filter((f) => !lines.some((l) => l.includes(f)));
}
