/**
 * The code dlaas runs in a notebook's kernel to give it the variable of an attached DID, for
 * Python, R and Julia kernels. Pure functions: no JupyterLab, no network.
 *
 * What a variable holds:
 * - a made-available file: its local path, as a string;
 * - a made-available dataset or container: the local paths of its files, as a Python `list`, an R
 *   character vector or a Julia `Vector{String}`;
 * - a DID that is not available (yet): a value that fails with a clear sentence when it is used.
 *   - Python: an object of class `DataLakeNotAvailable` whose `str()`, `os.fspath()` (so `open()`
 *     and pandas), iteration, indexing, `len()`, `bool()` and public attributes raise
 *     `DataLakeNotAvailableError` (a `RuntimeError`) with the sentence; its `repr()` shows the
 *     sentence without raising, so displaying it in a cell and debuggers work. `.did`, `.state`
 *     and `.message` can be read.
 *   - R: an active binding whose reading `stop()`s with the sentence; assigning to the variable
 *     replaces the binding with an ordinary one, as the user would expect.
 *   - Julia: a `DataLakeNotAvailable` struct, defined in an anonymous module (so nothing is added
 *     to `Main` but the variable), that shows the sentence and whose `print`/`string`,
 *     iteration, indexing, `length`, `open`, `read` and `joinpath` call `error` with it.
 *
 * Every string is written as a literal escaped for its language (quotes, backslashes, Julia's
 * `$`, control characters and all non-ASCII characters as escapes), so no path or DID can end the
 * literal early; variable names are checked before they are written into code. The code prints
 * nothing and leaves no helper name behind in the user's namespace.
 */
import { nullTranslator, type TranslationBundle } from '@jupyterlab/translation';
import { JULIA_BASE_EXPORTS, JULIA_CORE_EXPORTS } from './juliaBase';
import { R_BASE_FUNCTIONS } from './rBase';

/** The kernel languages dlaas injects variables into. */
export type KernelLanguage = 'python' | 'r' | 'julia';

/** What an attachment's variable is set to. */
export type InjectedValue =
  | {
      /** A file: its local path. */
      kind: 'file';
      path: string;
    }
  | {
      /** A dataset or container: the local paths of its files. */
      kind: 'collection';
      paths: string[];
    }
  | {
      /** Not available (yet): a value that fails with `message` when used. */
      kind: 'unavailable';
      did: string;
      /** Where the DID stands (an availability state, or another short word). */
      state: string;
      /** The sentence raised when the variable is used: what happened, what to do. */
      message: string;
    };

/**
 * The kernel language of a kernel's `language_info.name` or kernelspec `language`, or null when
 * dlaas cannot inject into it. Case-insensitive.
 */
export function kernelLanguage(name: string | undefined | null): KernelLanguage | null {
  switch ((name ?? '').trim().toLowerCase()) {
    case 'python':
    case 'python3':
    case 'ipython':
    case 'ipython3':
      return 'python';
    case 'r':
      return 'r';
    case 'julia':
      return 'julia';
    default:
      return null;
  }
}

/** The language's name as users know it, for sentences. */
export function languageDisplayName(language: KernelLanguage): string {
  return Private.DISPLAY_NAME[language];
}

/**
 * Why `name` cannot be the variable of an attachment in `language`, as a sentence that says what
 * to do (translated with `trans` when given); null when it can. Names are limited to ASCII
 * letters, digits and `_` (and `.` in R), so that they mean the same in every kernel and locale.
 */
export function variableNameProblem(
  language: KernelLanguage,
  name: string,
  trans: TranslationBundle = nullTranslator.load('dlaas')
): string | null {
  const language_ = languageDisplayName(language);
  if (name.trim() === '') {
    return trans.__('Enter a variable name.');
  }
  if (name !== name.trim()) {
    return trans.__('Remove the spaces around "%1": a variable name has no spaces.', name.trim());
  }
  if (name.length > Private.MAX_LENGTH) {
    return trans.__(
      'This variable name is too long: use at most %1 characters.',
      String(Private.MAX_LENGTH)
    );
  }
  if (!Private.NAME_PATTERN[language].test(name)) {
    return trans.__(
      '"%1" is not a valid %2 variable name: %3',
      name,
      language_,
      Private.nameRule(language, trans)
    );
  }
  if (Private.KEYWORDS[language].has(name) || (language === 'r' && /^\.\.[0-9]+$/.test(name))) {
    return trans.__(
      '"%1" is a reserved word in %2: choose another name, such as %3.',
      name,
      language_,
      Private.alternative(language, name)
    );
  }
  if (Private.isProtected(language, name)) {
    return trans.__(
      '"%1" already means something in %2 and replacing it would break code that uses it: choose another name, such as %3.',
      name,
      language_,
      Private.alternative(language, name)
    );
  }
  return null;
}

/**
 * A valid variable name for `did` in `language`, made from the last part of its name (e.g.
 * `events_root` for `user.jdoe:/store/run1/events.root`), and not one of `taken`.
 */
export function suggestVariableName(
  language: KernelLanguage | null,
  did: string,
  taken: Iterable<string> = []
): string {
  const colon = did.indexOf(':');
  const name = colon < 0 ? did : did.slice(colon + 1);
  const last =
    name
      .split('/')
      .filter(part => part !== '')
      .pop() ?? '';
  let base = last
    .replace(/[^A-Za-z0-9_]+/g, '_')
    .replace(/_+/g, '_')
    .replace(/^_+|_+$/g, '')
    .slice(0, 40)
    .replace(/_+$/, '');
  if (base === '') {
    base = 'data';
  } else if (!/^[A-Za-z]/.test(base)) {
    base = `data_${base}`;
  }
  const languages: KernelLanguage[] = language ? [language] : ['python', 'r', 'julia'];
  const valid = (candidate: string): boolean =>
    languages.every(l => variableNameProblem(l, candidate) === null);
  if (!valid(base)) {
    base = `${base}_data`;
  }
  const used = new Set(taken);
  let candidate = base;
  for (let n = 2; used.has(candidate) || !valid(candidate); n++) {
    candidate = `${base}_${n}`;
  }
  return candidate;
}

/**
 * Code that sets `variable` to `value` in a kernel of `language`, silently and without leaving
 * helper names behind.
 *
 * @throws Error when `variable` is not a valid name in `language` (see
 * {@link variableNameProblem}): a name is never written into code unchecked.
 */
export function injectionCode(
  language: KernelLanguage,
  variable: string,
  value: InjectedValue
): string {
  const problem = variableNameProblem(language, variable);
  if (problem !== null) {
    throw new Error(problem);
  }
  switch (language) {
    case 'python':
      return Private.python(variable, value);
    case 'r':
      return Private.r(variable, value);
    case 'julia':
      return Private.julia(variable, value);
  }
}

/** A Python string literal of `text`, in ASCII. */
export function pythonString(text: string): string {
  let out = '"';
  for (const char of text) {
    const code = char.codePointAt(0) ?? 0;
    if (char === '\\' || char === '"') {
      out += `\\${char}`;
    } else if (code >= 0x20 && code < 0x7f) {
      out += char;
    } else if (code < 0x100) {
      out += `\\x${Private.hex(code, 2)}`;
    } else if (code < 0x10000) {
      out += `\\u${Private.hex(code, 4)}`;
    } else {
      out += `\\U${Private.hex(code, 8)}`;
    }
  }
  return `${out}"`;
}

/**
 * An R string literal of `text`, in ASCII. R strings cannot hold a NUL character: one makes the
 * code fail to parse (and the injection fail with R's message) rather than be dropped silently.
 */
export function rString(text: string): string {
  let out = '"';
  for (const char of Private.wellFormed(text)) {
    const code = char.codePointAt(0) ?? 0;
    if (char === '\\' || char === '"') {
      out += `\\${char}`;
    } else if (code >= 0x20 && code < 0x7f) {
      out += char;
    } else if (code < 0x10000) {
      out += `\\u{${Private.hex(code, 4)}}`;
    } else {
      out += `\\U{${Private.hex(code, 8)}}`;
    }
  }
  return `${out}"`;
}

/** A Julia string literal of `text`, in ASCII, with `$` escaped so nothing is interpolated. */
export function juliaString(text: string): string {
  let out = '"';
  for (const char of Private.wellFormed(text)) {
    const code = char.codePointAt(0) ?? 0;
    if (char === '\\' || char === '"' || char === '$') {
      out += `\\${char}`;
    } else if (code >= 0x20 && code < 0x7f) {
      out += char;
    } else if (code < 0x10000) {
      out += `\\u${Private.hex(code, 4)}`;
    } else {
      out += `\\U${Private.hex(code, 8)}`;
    }
  }
  return `${out}"`;
}

namespace Private {
  export const MAX_LENGTH = 100;

  export const DISPLAY_NAME: Record<KernelLanguage, string> = {
    python: 'Python',
    r: 'R',
    julia: 'Julia'
  };

  export const NAME_PATTERN: Record<KernelLanguage, RegExp> = {
    python: /^[A-Za-z_][A-Za-z0-9_]*$/,
    // R's syntactic names: a letter, or a dot not followed by a digit, then letters, digits, dots
    // and underscores.
    r: /^(?:[A-Za-z]|\.(?![0-9]))[A-Za-z0-9._]*$/,
    julia: /^[A-Za-z_][A-Za-z0-9_!]*$/
  };

  export function nameRule(language: KernelLanguage, trans: TranslationBundle): string {
    switch (language) {
      case 'python':
        return trans.__(
          'use letters a-z or A-Z, digits and underscores (_), and do not start with a digit; for example my_data.'
        );
      case 'r':
        return trans.__(
          'use letters a-z or A-Z, digits, dots (.) and underscores (_), and start with a letter (or a dot not followed by a digit); for example my_data.'
        );
      case 'julia':
        return trans.__(
          'use letters a-z or A-Z, digits, underscores (_) and exclamation marks (!), and do not start with a digit or "!"; for example my_data.'
        );
    }
  }

  export const KEYWORDS: Record<KernelLanguage, ReadonlySet<string>> = {
    python: new Set(
      'False None True and as assert async await break class continue def del elif else except finally for from global if import in is lambda nonlocal not or pass raise return try while with yield'.split(
        ' '
      )
    ),
    r: new Set([
      ...'if else repeat while function for next break in TRUE FALSE NULL Inf NaN NA NA_integer_ NA_real_ NA_character_ NA_complex_'.split(
        ' '
      ),
      '...'
    ]),
    julia: new Set(
      'baremodule begin break catch const continue do else elseif end export false finally for function global if import let local macro module quote return struct true try using while where in isa public'.split(
        ' '
      )
    )
  };

  /** Names that are valid but whose replacement would break the user's code or the kernel. */
  export const PROTECTED: Record<KernelLanguage, ReadonlySet<string>> = {
    python: new Set([
      // Python's built-ins (`dir(builtins)`, public names).
      ...'ArithmeticError AssertionError AttributeError BaseException BaseExceptionGroup BlockingIOError BrokenPipeError BufferError BytesWarning ChildProcessError ConnectionAbortedError ConnectionError ConnectionRefusedError ConnectionResetError DeprecationWarning EOFError Ellipsis EncodingWarning EnvironmentError Exception ExceptionGroup FileExistsError FileNotFoundError FloatingPointError FutureWarning GeneratorExit IOError ImportError ImportWarning IndentationError IndexError InterruptedError IsADirectoryError KeyError KeyboardInterrupt LookupError MemoryError ModuleNotFoundError NameError NotADirectoryError NotImplemented NotImplementedError OSError OverflowError PendingDeprecationWarning PermissionError ProcessLookupError PythonFinalizationError RecursionError ReferenceError ResourceWarning RuntimeError RuntimeWarning StopAsyncIteration StopIteration SyntaxError SyntaxWarning SystemError SystemExit TabError TimeoutError TypeError UnboundLocalError UnicodeDecodeError UnicodeEncodeError UnicodeError UnicodeTranslateError UnicodeWarning UserWarning ValueError Warning ZeroDivisionError abs aiter all anext any ascii bin bool breakpoint bytearray bytes callable chr classmethod compile complex copyright credits delattr dict dir divmod enumerate eval exec exit filter float format frozenset getattr globals hasattr hash help hex id input int isinstance issubclass iter len license list locals map max memoryview min next object oct open ord pow print property quit range repr reversed round set setattr slice sorted staticmethod str sum super tuple type vars zip'.split(
        ' '
      ),
      // IPython's own names in the user namespace.
      ...'In Out get_ipython display _ __ ___ _i _ii _iii _ih _oh _dh'.split(' ')
    ]),
    // T and F, and base R's functions (a shared notebook's attachment must not hide them).
    r: new Set(['T', 'F', ...R_BASE_FUNCTIONS]),
    // What `Main` sees of Base and Core (a shared notebook's attachment must not hide `println`,
    // `ENV` or `String`), the modules themselves, and names that Main, the REPL and IJulia define.
    julia: new Set([
      ...'ans err nothing missing Inf NaN pi Main Base Core _ include In Out IJulia'.split(' '),
      ...JULIA_BASE_EXPORTS,
      ...JULIA_CORE_EXPORTS
    ])
  };

  /**
   * Whether assigning `name` would replace something the language or the kernel relies on: the
   * built-ins listed above, and in Python every `__dunder__` (`__builtins__`, `__name__`, …:
   * names Python itself defines and looks up).
   */
  export function isProtected(language: KernelLanguage, name: string): boolean {
    return PROTECTED[language].has(name) || (language === 'python' && /^__\w*__$/.test(name));
  }

  /** A name the user may take instead of `name`. */
  export function alternative(language: KernelLanguage, name: string): string {
    const base = name.replace(/^_+|_+$/g, '') || 'data';
    for (const candidate of [`${base}_data`, `my_${base}`, 'my_data']) {
      if (
        NAME_PATTERN[language].test(candidate) &&
        !KEYWORDS[language].has(candidate) &&
        !isProtected(language, candidate)
      ) {
        return candidate;
      }
    }
    return 'my_data';
  }

  export function hex(code: number, digits: number): string {
    return code.toString(16).padStart(digits, '0');
  }

  /** `text` with lone surrogates (which R and Julia literals cannot hold) replaced by U+FFFD. */
  export function wellFormed(text: string): string {
    return text.replace(
      /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g,
      '\uFFFD'
    );
  }

  export function python(variable: string, value: InjectedValue): string {
    switch (value.kind) {
      case 'file':
        return `${variable} = ${pythonString(value.path)}\n`;
      case 'collection':
        return `${variable} = [${value.paths.map(pythonString).join(', ')}]\n`;
      case 'unavailable':
        return [
          // Built-ins are read from the `builtins` module so that a user's variable named `str`
          // or `RuntimeError` changes nothing; the helper is deleted even when the call fails.
          'def __dlaas_not_available(did, state, message):',
          '    import builtins',
          '',
          '    class DataLakeNotAvailableError(builtins.RuntimeError):',
          '        """Raised when a Data Lake variable whose data is not available is used."""',
          '',
          '    class DataLakeNotAvailable:',
          '        """Data attached to this notebook that is not available yet."""',
          '',
          "        __slots__ = ('did', 'state', 'message')",
          '        Error = DataLakeNotAvailableError',
          '',
          '        def __init__(self, did, state, message):',
          '            self.did = did',
          '            self.state = state',
          '            self.message = message',
          '',
          '        def __repr__(self):',
          "            return '<not available: ' + self.message + '>'",
          '',
          '        def _fail(self, *args, **kwargs):',
          '            raise DataLakeNotAvailableError(self.message)',
          '',
          '        __str__ = __fspath__ = __iter__ = __getitem__ = __len__ = __bool__ = _fail',
          '        __contains__ = __add__ = __radd__ = __truediv__ = __rtruediv__ = _fail',
          '',
          '        def __getattr__(self, name):',
          "            if name.startswith('_') or name in DataLakeNotAvailable.__slots__:",
          '                raise builtins.AttributeError(name)',
          '            raise DataLakeNotAvailableError(self.message)',
          '',
          '    return DataLakeNotAvailable(did, state, message)',
          '',
          'try:',
          `    ${variable} = __dlaas_not_available(${pythonString(value.did)}, ${pythonString(value.state)}, ${pythonString(value.message)})`,
          'finally:',
          '    del __dlaas_not_available',
          ''
        ].join('\n');
    }
  }

  export function r(variable: string, value: InjectedValue): string {
    const name = rString(variable);
    // An earlier "not available" active binding must go first: assigning to it would call it.
    const clear = `  if (base::exists(${name}, envir = e, inherits = FALSE)) base::rm(list = ${name}, envir = e)`;
    let set: string[];
    switch (value.kind) {
      case 'file':
        set = [`  base::assign(${name}, ${rString(value.path)}, envir = e)`];
        break;
      case 'collection':
        set = [
          `  base::assign(${name}, ${value.paths.length === 0 ? 'base::character(0)' : `base::c(${value.paths.map(rString).join(', ')})`}, envir = e)`
        ];
        break;
      case 'unavailable':
        set = [
          `  message <- ${rString(value.message)}`,
          `  base::makeActiveBinding(${name}, function(value) {`,
          '    if (base::missing(value)) base::stop(message, call. = FALSE)',
          `    base::rm(list = ${name}, envir = e)`,
          `    base::assign(${name}, value, envir = e)`,
          '  }, e)'
        ];
        break;
    }
    return [
      'base::invisible(base::local({',
      '  e <- base::globalenv()',
      clear,
      ...set,
      '}))',
      ''
    ].join('\n');
  }

  export function julia(variable: string, value: InjectedValue): string {
    switch (value.kind) {
      case 'file':
        return `global ${variable} = ${juliaString(value.path)};\nnothing\n`;
      case 'collection':
        return `global ${variable} = String[${value.paths.map(juliaString).join(', ')}];\nnothing\n`;
      case 'unavailable':
        return [
          // The type lives in a module bound to no name, so `Main` gains only the variable.
          'let m = Core.Module(:DataLake)',
          '    T = Core.eval(m, quote',
          '        struct DataLakeNotAvailable',
          '            did::String',
          '            state::String',
          '            message::String',
          '        end',
          '        fail(x::DataLakeNotAvailable) = error(x.message)',
          '        Base.show(io::IO, x::DataLakeNotAvailable) = print(io, "not available: ", x.message)',
          '        Base.print(io::IO, x::DataLakeNotAvailable) = fail(x)',
          '        Base.iterate(x::DataLakeNotAvailable, state...) = fail(x)',
          '        Base.getindex(x::DataLakeNotAvailable, i...) = fail(x)',
          '        Base.length(x::DataLakeNotAvailable) = fail(x)',
          '        Base.open(x::DataLakeNotAvailable, args...; kwargs...) = fail(x)',
          '        Base.read(x::DataLakeNotAvailable, args...) = fail(x)',
          '        Base.joinpath(x::DataLakeNotAvailable, parts...) = fail(x)',
          '        DataLakeNotAvailable',
          '    end)',
          `    global ${variable} = Base.invokelatest(T, ${juliaString(value.did)}, ${juliaString(value.state)}, ${juliaString(value.message)})`,
          'end;',
          'nothing',
          ''
        ].join('\n');
    }
  }
}
