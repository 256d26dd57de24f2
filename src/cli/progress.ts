/**
 * Progress for long CLI operations: a bar on a terminal, one JSON line per second otherwise
 * (on stderr, so stdout stays the command's result).
 */
import cliProgress from 'cli-progress';
import type { Progress } from '../backup/backup.js';

export function cliProgressReporter(stream: NodeJS.WriteStream = process.stderr): Progress {
  return stream.isTTY ? barProgress(stream) : lineProgress(stream);
}

function barProgress(stream: NodeJS.WriteStream): Progress {
  let bar: cliProgress.SingleBar | undefined;
  return {
    phase(name, total) {
      bar?.stop();
      bar = new cliProgress.SingleBar(
        {
          stream,
          format: `${name.padEnd(8)} [{bar}] {percentage}% | {value}/{total} docs | {detail}`,
          hideCursor: true,
        },
        cliProgress.Presets.shades_classic,
      );
      bar.start(Math.max(total, 1), 0, { detail: '' });
    },
    advance(n, detail) {
      if (!bar) return;
      // Totals are estimates on a live database: let the bar grow rather than overflow.
      if (bar.getProgress() >= 1) bar.setTotal(bar.getTotal() + n);
      bar.increment(n, { detail: detail ?? '' });
    },
    done() {
      bar?.stop();
      bar = undefined;
    },
  };
}

function lineProgress(stream: NodeJS.WriteStream): Progress {
  let state = { phase: '', total: 0, done: 0, detail: '' };
  let last = 0;
  const emit = (final = false) =>
    stream.write(
      `${JSON.stringify({ progress: state.phase, done: state.done, total: state.total, collection: state.detail || undefined, final: final || undefined })}\n`,
    );
  return {
    phase(phase, total) {
      state = { phase, total, done: 0, detail: '' };
      last = Date.now();
    },
    advance(n, detail) {
      state.done += n;
      if (detail) state.detail = detail;
      if (Date.now() - last >= 1000) {
        last = Date.now();
        emit();
      }
    },
    done() {
      emit(true);
    },
  };
}
