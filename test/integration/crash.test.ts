/**
 * Kill tests of the whole process: the burst with kill -9 on the shared test server (a
 * one-node replica set), then the intake's lease between several replicas. In one file so
 * the two heaviest kill tests never load the one test server at the same time.
 */
import { crashScenario } from './crash.scenario.js';
import { replicaScenario } from './replicas.scenario.js';

crashScenario({ messages: 200 });
replicaScenario();
