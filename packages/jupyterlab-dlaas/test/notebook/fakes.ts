import type { Kernel, KernelMessage } from '@jupyterlab/services';
import { Signal } from '@lumino/signaling';
import { spawnSync } from 'node:child_process';
import type {
  IAttachableNotebook,
  IAttachmentsKernel,
  IAttachmentsModel,
  IAttachmentsSessionContext
} from '../../src/notebook/attachments';

/** What a fake kernel answers to an execute request. */
export type ExecuteReply = { status: 'ok' } | { status: 'error'; ename: string; evalue: string };

/**
 * A kernel that records the code it is asked to run. It is not JupyterLab's (no kernel runs in
 * unit tests): tests run the recorded code in a real interpreter where they check values.
 */
export class FakeKernel implements IAttachmentsKernel {
  constructor(language: string | Error) {
    this.info =
      language instanceof Error
        ? Promise.reject(language)
        : Promise.resolve({ language_info: { name: language } });
    // An unobserved rejection must not fail the test run before the model reads it.
    this.info.catch(() => undefined);
  }

  readonly info: Promise<{ language_info: { name: string } }>;
  readonly requests: KernelMessage.IExecuteRequestMsg['content'][] = [];
  /** What the next requests answer. */
  reply: ExecuteReply = { status: 'ok' };

  /** The code of every request, in order. */
  get codes(): string[] {
    return this.requests.map(r => r.code);
  }

  requestExecute(content: KernelMessage.IExecuteRequestMsg['content']) {
    this.requests.push(content);
    return { done: Promise.resolve({ content: this.reply }) };
  }
}

/** A notebook model holding metadata in a map. */
export class FakeModel implements IAttachmentsModel {
  constructor(metadata: Record<string, unknown> = {}) {
    Object.entries(metadata).forEach(([key, value]) => this.metadata.set(key, value));
  }

  readonly metadata = new Map<string, unknown>();
  readonly metadataChanged = new Signal<this, { key: string }>(this);

  getMetadata(key: string): unknown {
    // The real model answers copies.
    return structuredClone(this.metadata.get(key));
  }

  setMetadata(key: string, value: unknown): void {
    this.metadata.set(key, structuredClone(value));
    this.metadataChanged.emit({ key });
  }
}

/** A session context whose kernel, readiness and status the test drives. */
export class FakeSessionContext implements IAttachmentsSessionContext {
  constructor(kernel: FakeKernel | null) {
    this.session = { kernel };
    this.ready = new Promise(resolve => {
      this.becomeReady = resolve;
    });
  }

  session: { kernel: FakeKernel | null };
  readonly ready: Promise<void>;
  becomeReady: () => void = () => undefined;
  readonly statusChanged = new Signal<this, Kernel.Status>(this);
  readonly kernelChanged = new Signal<this, { newValue: FakeKernel | null }>(this);

  /** Restarts the kernel as JupyterLab reports it: restarting, then idle. */
  restart(): void {
    this.statusChanged.emit('restarting');
    this.statusChanged.emit('starting');
    this.statusChanged.emit('idle');
  }

  /** Replaces the kernel, as "Change kernel" does. */
  changeKernel(kernel: FakeKernel): void {
    this.session = { kernel };
    this.kernelChanged.emit({ newValue: kernel });
  }
}

/** A document context: the notebook's path, which the test can change as a rename does. */
export class FakeContext {
  constructor(public path: string) {}

  readonly pathChanged = new Signal<this, string>(this);

  /** Renames the notebook, as the file browser or "Save As" does. */
  rename(path: string): void {
    this.path = path;
    this.pathChanged.emit(path);
  }
}

/** A notebook: a model, a session context, a title, a context (its path) and a disposed signal. */
export class FakeNotebook implements IAttachableNotebook {
  constructor(
    kernel: FakeKernel | null,
    metadata: Record<string, unknown> = {},
    label = 'analysis.ipynb'
  ) {
    this.model = new FakeModel(metadata);
    this.sessionContext = new FakeSessionContext(kernel);
    this.title = { label };
    this.context = new FakeContext(`work/${label}`);
  }

  readonly model: FakeModel;
  readonly sessionContext: FakeSessionContext;
  readonly title: { label: string };
  readonly context: FakeContext;
  readonly disposed = new Signal<this, void>(this);
}

/** Waits until the promises and timers queued so far have run. */
export function settle(): Promise<void> {
  return new Promise(resolve => setTimeout(resolve, 0));
}

/** Whether an interpreter is on the PATH. */
export function hasCommand(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`]).status === 0;
}

/** Runs `script` with `interpreter` (stdin empty), failing loudly with its stderr on error. */
export function run(interpreter: string, args: string[], input = ''): string {
  const result = spawnSync(interpreter, args, { input, encoding: 'utf8', timeout: 60_000 });
  if (result.status !== 0) {
    throw new Error(`${interpreter} failed (${result.status}): ${result.stderr}`);
  }
  return result.stdout;
}

/**
 * Runs `codes` one after another in one fresh Python namespace, as a kernel would, then the
 * `probe` statements, which see that namespace as `ns` (and the module `json`); answers what the
 * probe printed, and fails when the codes printed anything.
 */
export function runPython(codes: string[], probe: string): string {
  const harness = [
    'import json, sys',
    'codes = json.loads(sys.stdin.read())',
    'ns = {}',
    'for code in codes[:-1]:',
    '    exec(compile(code, "<dlaas>", "exec"), ns)',
    'print("\\u0001", end="")',
    'exec(compile(codes[-1], "<probe>", "exec"), {"ns": ns, "json": json})'
  ].join('\n');
  const output = run('python3', ['-c', harness], JSON.stringify([...codes, probe]));
  const marker = output.indexOf('\u0001');
  if (marker !== 0) {
    throw new Error(`the injected code printed: ${output.slice(0, marker)}`);
  }
  return output.slice(1);
}
