/**
 * The crash test on a server without transactions (a plain `mongod`, not a replica set): the
 * product's idempotent path, where each multi-document change is written step by step and a
 * rerun after a kill completes it, must lose and duplicate nothing either. The server is this
 * file's own, so the burst does not compete with the shared one.
 */
import { crashScenario } from './crash.scenario.js';

crashScenario({ messages: 100, standalone: true });
