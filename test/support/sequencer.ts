/**
 * Runs the files that take minutes first. The suite's length is set by its longest file
 * (crash.test.ts, about ten minutes); started last, it would run alone at the end. Vitest's
 * own order needs the timings of an earlier run, which a fresh checkout (CI) does not have.
 */
import { BaseSequencer, type TestSpecification } from 'vitest/node';

/** Longest first, as measured (docs/development.md lists the timings). */
const LONGEST = [
  'integration/crash.test.ts',
  'integration/security.test.ts',
  'integration/onboarding.test.ts',
];

const rank = (file: TestSpecification) => {
  const i = LONGEST.findIndex((name) => file.moduleId.endsWith(name));
  return i < 0 ? LONGEST.length : i;
};

export default class LongestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    return (await super.sort(files)).sort((a, b) => rank(a) - rank(b));
  }
}
