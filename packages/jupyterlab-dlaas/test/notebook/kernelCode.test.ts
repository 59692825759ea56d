import fc from 'fast-check';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  injectionCode,
  juliaString,
  kernelLanguage,
  pythonString,
  rString,
  suggestVariableName,
  variableNameProblem,
  type InjectedValue,
  type KernelLanguage
} from '../../src/notebook/kernelCode';
import { JULIA_BASE_EXPORTS, JULIA_CORE_EXPORTS } from '../../src/notebook/juliaBase';
import { hasCommand, run, runPython } from './fakes';

/** Paths a data lake may hand out, and some that try to break out of a string literal. */
const HOSTILE = [
  '/scratch/user.alice/run1/events.root',
  'with "double" and \'single\' quotes',
  'back\\slash\\',
  'ends with a backslash \\',
  'new\nline\rand\ttab',
  'dollar $HOME and $(rm -rf /) and ${x}',
  '"; import os; os.system("echo pwned"); x = "',
  '")\nstop("pwned")\nx <- ("',
  '"; run(`echo pwned`); "',
  'unicode: é ü ß 中文 😀 \u2028 \u00a0 \u202e',
  '\u0007\u001b[31m control',
  '#{not interpolated} %s {} `backticks`',
  ''
];

const UNAVAILABLE: InjectedValue = {
  kind: 'unavailable',
  did: 'user.alice:run"1$x\\',
  state: 'NOT_AVAILABLE',
  message:
    'user.alice:run"1$x\\ is not available yet: make it available in the Data Lake panel, and this variable will be set when it is.'
};

const hex = (text: string): string => Buffer.from(text, 'utf8').toString('hex');

describe('kernelLanguage', () => {
  it('when given the language of a Python, R or Julia kernel in any case, then it names it', () => {
    expect(kernelLanguage('python')).toBe('python');
    expect(kernelLanguage('Python')).toBe('python');
    expect(kernelLanguage('python3')).toBe('python');
    expect(kernelLanguage('R')).toBe('r');
    expect(kernelLanguage('r')).toBe('r');
    expect(kernelLanguage('julia')).toBe('julia');
    expect(kernelLanguage('Julia')).toBe('julia');
  });

  it('when given another language or none, then it answers null', () => {
    expect(kernelLanguage('bash')).toBeNull();
    expect(kernelLanguage('scala')).toBeNull();
    expect(kernelLanguage('')).toBeNull();
    expect(kernelLanguage(undefined)).toBeNull();
  });
});

describe('variableNameProblem', () => {
  const valid: Record<KernelLanguage, string[]> = {
    python: ['x', 'events', 'run_2024', '_private', 'CamelCase', 'match', 'case'],
    r: ['x', 'events', 'run_2024', 'my.data', '.hidden', 'x2'],
    julia: ['x', 'events', 'run_2024', '_private', 'update!', 'type']
  };
  const invalid: Record<KernelLanguage, string[]> = {
    python: ['2x', 'my-data', 'my.data', 'a b', 'x;y', 'x=1', 'données', 'x!'],
    r: ['2x', '_x', '.2x', 'my-data', 'a b', 'x;y', 'x!'],
    julia: ['2x', '!x', 'my-data', 'my.data', 'a b', 'x;y', '$x']
  };
  const reserved: Record<KernelLanguage, string[]> = {
    python: ['None', 'True', 'False', 'class', 'lambda', 'import'],
    r: [
      'if',
      'else',
      'TRUE',
      'FALSE',
      'NULL',
      'function',
      'NA',
      'Inf',
      'NaN',
      '...',
      '..1',
      'NA_integer_'
    ],
    julia: ['end', 'function', 'begin', 'true', 'nothing', 'missing', 'where', 'in']
  };
  const protected_: Record<KernelLanguage, string[]> = {
    python: [
      'list',
      'str',
      'open',
      'print',
      'len',
      'In',
      'Out',
      '_',
      'get_ipython',
      // A shared notebook's attachment must not replace Python's own names.
      '__builtins__',
      '__name__',
      '__import__',
      '__doc__'
    ],
    r: ['T', 'F', 'c', 'file', 'list', 'sum', 'library', 'data.frame', 'is.na', 'Sys.time'],
    julia: ['ans', 'pi', 'Main', 'println', 'sum', 'Base', 'ENV', 'ARGS', 'String', 'push!']
  };

  for (const language of ['python', 'r', 'julia'] as const) {
    it(`when a ${language} name is valid, then there is no problem`, () => {
      for (const name of valid[language]) {
        expect(variableNameProblem(language, name), name).toBeNull();
      }
    });

    it(`when a ${language} name has characters the language forbids, then the sentence says which are allowed`, () => {
      for (const name of invalid[language]) {
        const problem = variableNameProblem(language, name);
        expect(problem, name).toMatch(/is not a valid (Python|R|Julia) variable name: use letters/);
        expect(problem).toContain('for example my_data');
      }
    });

    it(`when a ${language} name is reserved or already means something, then the sentence proposes another name`, () => {
      for (const name of reserved[language]) {
        expect(variableNameProblem(language, name), name).toMatch(
          /is a reserved word in|already means something in/
        );
      }
      for (const name of protected_[language]) {
        const problem = variableNameProblem(language, name);
        expect(problem, name).toMatch(
          /already means something in .* choose another name, such as /
        );
        const alternative = /such as (.+)\.$/.exec(problem ?? '')?.[1] ?? '';
        expect(variableNameProblem(language, alternative), alternative).toBeNull();
      }
    });
  }

  it("when a Julia name is one of Base's or Core's exports, then it is refused, and names near them are not", () => {
    for (const name of ['println', 'sum', 'Base', 'Main', 'ENV', 'ARGS', 'typeof', 'Int', 'open']) {
      expect(variableNameProblem('julia', name), name).toBe(
        `"${name}" already means something in Julia and replacing it would break code that uses it: choose another name, such as ${name}_data.`
      );
    }
    for (const name of ['events', 'run1', 'my_sum', 'printlines', 'env', 'args', 'data!']) {
      expect(variableNameProblem('julia', name), name).toBeNull();
    }
  });

  it('when the Julia export lists are read, then every entry is a name the check would otherwise take', () => {
    expect(JULIA_BASE_EXPORTS.length).toBeGreaterThan(800);
    expect(JULIA_CORE_EXPORTS.length).toBeGreaterThan(100);
    for (const name of [...JULIA_BASE_EXPORTS, ...JULIA_CORE_EXPORTS]) {
      expect(variableNameProblem('julia', name), name).toMatch(/already means something in Julia/);
    }
  });

  it('when the name is empty, padded or far too long, then the sentence says what to do', () => {
    expect(variableNameProblem('python', '')).toBe('Enter a variable name.');
    expect(variableNameProblem('r', '  ')).toBe('Enter a variable name.');
    expect(variableNameProblem('julia', ' x ')).toBe(
      'Remove the spaces around "x": a variable name has no spaces.'
    );
    expect(variableNameProblem('python', 'x'.repeat(101))).toMatch(/at most 100 characters/);
  });
});

describe('suggestVariableName', () => {
  it('when a DID has a path-like name, then the suggestion is its last part as an identifier', () => {
    expect(suggestVariableName('python', 'user.jdoe:/store/run1/events.root')).toBe('events_root');
    expect(suggestVariableName('r', 'lofar:L2024-obs_07')).toBe('L2024_obs_07');
    expect(suggestVariableName('julia', 'scope:dataset/')).toBe('dataset');
  });

  it('when the last part starts with a digit, is empty or is reserved, then the suggestion is still valid', () => {
    expect(suggestVariableName('python', 'lofar:2024.h5')).toBe('data_2024_h5');
    expect(suggestVariableName('python', 'lofar:___')).toBe('data');
    expect(suggestVariableName('python', 'lofar:list')).toBe('list_data');
    expect(suggestVariableName('r', 'lofar:TRUE')).toBe('TRUE_data');
    expect(suggestVariableName(null, 'lofar:in')).toBe('in_data');
  });

  it('when the name is taken, then a number is added', () => {
    expect(suggestVariableName('python', 'lofar:events', ['events', 'events_2'])).toBe('events_3');
  });

  it('when any DID is given, then the suggestion is valid in every language', () => {
    fc.assert(
      fc.property(fc.string(), fc.string({ unit: 'binary' }), (scope, name) => {
        const suggestion = suggestVariableName(null, `${scope}:${name}`);
        for (const language of ['python', 'r', 'julia'] as const) {
          expect(variableNameProblem(language, suggestion)).toBeNull();
        }
      })
    );
    // About 1 s alone; several times that on a loaded 2-core machine.
  }, 30_000);
});

describe('injectionCode', () => {
  it('when the variable name is not valid, then no code is made', () => {
    expect(() => injectionCode('python', 'x = 1; import os', { kind: 'file', path: '/a' })).toThrow(
      /not a valid Python variable name/
    );
    expect(() => injectionCode('r', 'TRUE', { kind: 'file', path: '/a' })).toThrow(/reserved/);
    expect(() => injectionCode('julia', 'end', { kind: 'file', path: '/a' })).toThrow(/reserved/);
  });
});

describe('Python injection (run with python3)', () => {
  it('when a file is injected, then the variable holds its exact path and nothing else is defined', () => {
    // One variable per path, in one interpreter run.
    const codes = HOSTILE.map((path, i) =>
      injectionCode('python', `data${i}`, { kind: 'file', path })
    );
    const out = runPython(
      codes,
      [
        'names = sorted(k for k in ns if k != "__builtins__")',
        'print(json.dumps({"names": names,',
        '    "types": sorted({type(ns[k]).__name__ for k in names}),',
        '    "values": [ns[f"data{i}"].encode("utf-8").hex() for i in range(len(names))]}))'
      ].join('\n')
    );
    expect(JSON.parse(out)).toEqual({
      names: HOSTILE.map((_, i) => `data${i}`).sort(),
      types: ['str'],
      values: HOSTILE.map(hex)
    });
  });

  it('when a collection is injected, then the variable is a list of the exact paths', () => {
    const code = injectionCode('python', 'files', { kind: 'collection', paths: HOSTILE });
    const out = runPython(
      [code],
      'print(json.dumps({"value": [p.encode("utf-8").hex() for p in ns["files"]], "type": type(ns["files"]).__name__, "names": sorted(k for k in ns if k != "__builtins__")}))'
    );
    expect(JSON.parse(out)).toEqual({ value: HOSTILE.map(hex), type: 'list', names: ['files'] });
  });

  it('when an empty collection is injected, then the variable is an empty list', () => {
    const out = runPython(
      [injectionCode('python', 'files', { kind: 'collection', paths: [] })],
      'print(repr(ns["files"]))'
    );
    expect(out.trim()).toBe('[]');
  });

  it('when any text is written as a Python literal, then Python reads the same text', () => {
    const samples = fc.sample(fc.string({ unit: 'binary', maxLength: 40 }), 300);
    const code = `values = [${samples.map(pythonString).join(', ')}]`;
    const out = runPython(
      [code],
      'print(json.dumps([v.encode("utf-8", "surrogatepass").hex() for v in ns["values"]]))'
    );
    expect(JSON.parse(out)).toEqual(samples.map(hex));
  });

  it('when data is not available, then using the variable raises the clear sentence, and nothing else is defined', () => {
    const code = injectionCode('python', 'data', UNAVAILABLE);
    const probe = [
      'import os',
      'x = ns["data"]',
      'results = {}',
      'uses = {',
      '    "str": lambda: str(x),',
      '    "fstring": lambda: f"{x}/file",',
      '    "fspath": lambda: os.fspath(x),',
      '    "open": lambda: open(x),',
      '    "index": lambda: x[0],',
      '    "iterate": lambda: [p for p in x],',
      '    "len": lambda: len(x),',
      '    "bool": lambda: bool(x),',
      '    "concat": lambda: x + "/a",',
      '    "method": lambda: x.endswith(".root"),',
      '}',
      'for name, use in uses.items():',
      '    try:',
      '        use()',
      '        results[name] = None',
      '    except Exception as e:',
      '        results[name] = [type(e).__name__, isinstance(e, RuntimeError), str(e)]',
      'print(json.dumps({"results": results, "repr": repr(x), "did": x.did, "state": x.state,',
      '    "names": sorted(k for k in ns if k != "__builtins__")}))'
    ].join('\n');
    const out = JSON.parse(runPython([code], probe)) as {
      results: Record<string, [string, boolean, string] | null>;
      repr: string;
      did: string;
      state: string;
      names: string[];
    };
    for (const [use, result] of Object.entries(out.results)) {
      expect(result, use).toEqual(['DataLakeNotAvailableError', true, UNAVAILABLE.message]);
    }
    expect(out.repr).toBe(`<not available: ${UNAVAILABLE.message}>`);
    expect(out.did).toBe(UNAVAILABLE.kind === 'unavailable' && UNAVAILABLE.did);
    expect(out.state).toBe('NOT_AVAILABLE');
    expect(out.names).toEqual(['data']);
  });

  it('when the user shadowed built-ins, then the unavailable value still works', () => {
    const out = runPython(
      [
        'str = 1\nRuntimeError = 2\nobject = 3\nAttributeError = 4',
        injectionCode('python', 'data', UNAVAILABLE)
      ],
      [
        'import builtins',
        'try:',
        '    builtins.str(ns["data"])',
        'except builtins.RuntimeError as e:',
        '    print(builtins.str(e))'
      ].join('\n')
    );
    expect(out.trim()).toBe(UNAVAILABLE.message);
  });

  it('when data becomes available after an unavailable value, then the variable is the path', () => {
    const out = runPython(
      [
        injectionCode('python', 'data', UNAVAILABLE),
        injectionCode('python', 'data', { kind: 'file', path: '/scratch/a.root' })
      ],
      'print(ns["data"])'
    );
    expect(out.trim()).toBe('/scratch/a.root');
  });
});

const rscript = hasCommand('Rscript');

describe.skipIf(!rscript)(
  rscript
    ? 'R injection (run with Rscript)'
    : 'R injection (SKIPPED: Rscript is not installed; install r-base-core to run these tests)',
  () => {
    let dir = '';
    beforeAll(() => {
      dir = mkdtempSync(join(tmpdir(), 'dlaas-r-'));
    });
    afterAll(() => rmSync(dir, { recursive: true, force: true }));
    let n = 0;

    /** Runs `codes` in R's global environment, then `probe`; fails when the codes print. */
    function runR(codes: string[], probe: string): string {
      const files = codes.map(code => {
        const file = join(dir, `code${n++}.R`);
        writeFileSync(file, code, 'utf8');
        return file;
      });
      const probeFile = join(dir, `probe${n++}.R`);
      writeFileSync(probeFile, probe, 'utf8');
      // The harness keeps its own names out of the global environment, which the probes list.
      const harness = [
        'local({',
        '  args <- commandArgs(trailingOnly = TRUE)',
        '  for (f in args[-length(args)]) {',
        '    out <- utils::capture.output(eval(parse(f, encoding = "UTF-8"), envir = globalenv()))',
        '    if (length(out) > 0) stop("the injected code printed: ", paste(out, collapse = "\\n"))',
        '  }',
        '  cat("\\001")',
        '  eval(parse(args[length(args)], encoding = "UTF-8"), envir = globalenv())',
        '})'
      ].join('\n');
      const harnessFile = join(dir, `harness${n++}.R`);
      writeFileSync(harnessFile, harness, 'utf8');
      const output = run('Rscript', ['--vanilla', harnessFile, ...files, probeFile]);
      expect(output.indexOf('\u0001')).toBe(0);
      return output.slice(1);
    }

    const hexOf = (expression: string) =>
      `cat(vapply(${expression}, function(s) paste(as.character(charToRaw(enc2utf8(s))), collapse = ""), ""), sep = "\\n")`;

    it('when a file is injected, then the variable holds its exact path and nothing else is defined', () => {
      const out = runR(
        HOSTILE.map((path, i) => injectionCode('r', `data${i}`, { kind: 'file', path })),
        [
          `names <- paste0("data", 0:${HOSTILE.length - 1})`,
          'cat(identical(sort(ls(globalenv(), all.names = TRUE)), sort(c(names, "names"))), "\\n")',
          'cat(unique(vapply(names, function(n) class(get(n)), "")), "\\n")',
          'cat(unique(vapply(names, function(n) length(get(n)), 0L)), "\\n")',
          hexOf('vapply(names, get, "")')
        ].join('\n')
      );
      expect(out.split('\n')).toEqual(['TRUE ', 'character ', '1 ', ...HOSTILE.map(hex), '']);
    });

    it('when a collection is injected, then the variable is a character vector of the exact paths', () => {
      const out = runR(
        [injectionCode('r', 'files', { kind: 'collection', paths: HOSTILE })],
        `cat(class(files), length(files), sep = "\\n"); ${hexOf('files')}`
      );
      expect(out.split('\n')).toEqual([
        'character',
        String(HOSTILE.length),
        ...HOSTILE.map(hex),
        ''
      ]);
    });

    it('when an empty collection is injected, then the variable is character(0)', () => {
      const out = runR(
        [injectionCode('r', 'files', { kind: 'collection', paths: [] })],
        'cat(class(files), length(files))'
      );
      expect(out).toBe('character 0');
    });

    it('when any text is written as an R literal, then R reads the same text', () => {
      const samples = fc
        .sample(fc.string({ unit: 'binary', maxLength: 40 }), 300)
        .filter(s => !s.includes('\u0000'))
        .map(s => s.replace(/[\uD800-\uDFFF]/g, 'x'));
      const out = runR([`values <- c(${samples.map(rString).join(', ')})`], hexOf('values'));
      expect(out.split('\n').slice(0, -1)).toEqual(samples.map(hex));
    });

    it('when data is not available, then reading the variable stops with the clear sentence, and assigning replaces it', () => {
      const out = runR(
        [injectionCode('r', 'data', UNAVAILABLE)],
        [
          'cat(ls(globalenv(), all.names = TRUE), "\\n")',
          'tryCatch(print(data), error = function(e) cat("ERROR:", conditionMessage(e), "\\n"))',
          'tryCatch(read.csv(data), error = function(e) cat("ERROR:", conditionMessage(e), "\\n"))',
          'data <- 42',
          'cat(data, "\\n")'
        ].join('\n')
      );
      expect(out).toBe(
        `data \nERROR: ${UNAVAILABLE.message} \nERROR: ${UNAVAILABLE.message} \n42 \n`
      );
    });

    it('when data becomes available after an unavailable value, then the variable is the path', () => {
      const out = runR(
        [
          injectionCode('r', 'data', UNAVAILABLE),
          injectionCode('r', 'data', { kind: 'file', path: '/scratch/a.root' })
        ],
        'cat(data, bindingIsActive("data", globalenv()))'
      );
      expect(out).toBe('/scratch/a.root FALSE');
    });

    it('when the user masked base functions, then the injection still works', () => {
      const out = runR(
        [
          'assign <- function(...) stop("masked"); rm <- function(...) stop("masked"); c <- function(...) stop("masked")',
          injectionCode('r', 'files', { kind: 'collection', paths: ['/a', '/b'] })
        ],
        'cat(files)'
      );
      expect(out).toBe('/a /b');
    });
  }
);

describe('Julia injection (checked as text: no Julia here)', () => {
  it('when a string is written as a Julia literal, then quotes, backslashes, $ and non-ASCII are escaped', () => {
    expect(juliaString('a"b\\c$d')).toBe('"a\\"b\\\\c\\$d"');
    expect(juliaString('$(run(`rm -rf /`))')).toBe('"\\$(run(`rm -rf /`))"');
    expect(juliaString('line\nbreak\ttab')).toBe('"line\\u000abreak\\u0009tab"');
    expect(juliaString('é😀')).toBe('"\\u00e9\\U0001f600"');
    expect(juliaString('')).toBe('""');
    // A lone surrogate cannot be in a Julia string: it becomes U+FFFD rather than break the code.
    expect(juliaString('a\uD800b')).toBe('"a\\ufffdb"');
  });

  it('when any text is written as a Julia literal, then the literal is ASCII, unescaped quotes and dollars never appear, and it decodes back', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), text => {
        const literal = juliaString(text);
        expect(literal).toMatch(/^"[\x20-\x7e]*"$/);
        const body = literal.slice(1, -1);
        // Every `"` and `$` is the second character of an escape.
        expect(body.replace(/\\(?:[\\"$]|u[0-9a-f]{4}|U[0-9a-f]{8})/g, '')).not.toMatch(/["$\\]/);
        expect(Private.decodeJulia(body)).toBe(text);
      })
    );
  });

  it('when a file or a collection is injected, then the code assigns a String or a Vector{String} globally', () => {
    expect(injectionCode('julia', 'data', { kind: 'file', path: '/s/a "b" $c.root' })).toBe(
      'global data = "/s/a \\"b\\" \\$c.root";\nnothing\n'
    );
    expect(injectionCode('julia', 'files', { kind: 'collection', paths: ['/a', '/b'] })).toBe(
      'global files = String["/a", "/b"];\nnothing\n'
    );
    expect(injectionCode('julia', 'files', { kind: 'collection', paths: [] })).toBe(
      'global files = String[];\nnothing\n'
    );
  });

  it('when data is not available, then the code defines a failing struct in an unnamed module inside let', () => {
    const code = injectionCode('julia', 'data', UNAVAILABLE);
    const lines = code.split('\n');
    expect(lines[0]).toBe('let m = Core.Module(:DataLake)');
    expect(code).toContain('struct DataLakeNotAvailable');
    expect(code).toContain('fail(x::DataLakeNotAvailable) = error(x.message)');
    for (const use of ['print', 'iterate', 'getindex', 'length', 'open', 'read', 'joinpath']) {
      expect(code).toMatch(new RegExp(`Base\\.${use}\\(.*\\) = fail\\(x\\)`));
    }
    expect(code).toContain(
      `    global data = Base.invokelatest(T, ${juliaString(UNAVAILABLE.kind === 'unavailable' ? UNAVAILABLE.did : '')}, "NOT_AVAILABLE", ${juliaString(UNAVAILABLE.message)})`
    );
    expect(lines.slice(-3)).toEqual(['end;', 'nothing', '']);
    // Balanced blocks: let, quote, struct each closed once.
    expect(code.match(/^\s*end\)?;?$/gm)).toHaveLength(3);
  });
});

namespace Private {
  /** Decodes a Julia string literal's body made by `juliaString`. */
  export function decodeJulia(body: string): string {
    return body.replace(/\\(?:([\\"$])|u([0-9a-f]{4})|U([0-9a-f]{8}))/g, (_, char, u, U) =>
      char !== undefined ? char : String.fromCodePoint(parseInt(u ?? U, 16))
    );
  }
}
