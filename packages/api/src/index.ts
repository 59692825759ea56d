/**
 * The dlaas wire contract: every request and response between the JupyterLab extension and the
 * companion, declared once as TypeBox schemas. The companion validates with them; both sides use
 * the static types.
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox';

/** A DID's type, as Rucio names it. */
export const DidType = Type.Union([
  Type.Literal('CONTAINER'),
  Type.Literal('DATASET'),
  Type.Literal('FILE')
]);
/** A DID's type, as Rucio names it. */
export type DidType = Static<typeof DidType>;

/** Rucio's scope rule (generic schema). */
export const SCOPE_PATTERN = '^[a-zA-Z_\\-.0-9]{1,25}$';
/** Rucio's name rule (generic schema); names may contain `/` and start with it. */
export const NAME_PATTERN = '^[/A-Za-z0-9][/A-Za-z0-9.\\-_]{0,249}$';
/** An instance name in dlaas' configuration. */
export const INSTANCE_PATTERN = '^[a-z0-9][a-z0-9_-]{0,62}$';

/** A data identifier as the panel shows it in a list. */
export const Did = Type.Object({
  scope: Type.String(),
  name: Type.String(),
  type: DidType,
  bytes: Type.Union([Type.Number(), Type.Null()]),
  /** Number of files below a collection; 1 for a file; null when Rucio has not counted it. */
  length: Type.Union([Type.Number(), Type.Null()])
});
/** A data identifier as the panel shows it in a list. */
export type Did = Static<typeof Did>;

/** A file below a collection, with its checksum. */
export const FileEntry = Type.Object({
  scope: Type.String(),
  name: Type.String(),
  bytes: Type.Union([Type.Number(), Type.Null()]),
  adler32: Type.Union([Type.String(), Type.Null()])
});
/** A file below a collection, with its checksum. */
export type FileEntry = Static<typeof FileEntry>;

/**
 * A window of a long list (search results, children, files) read incrementally from Rucio's
 * stream: `total` is known once the whole list has been read (`complete`), or from Rucio's count.
 */
export const Window = <T extends TSchema>(item: T) =>
  Type.Object({
    items: Type.Array(item),
    offset: Type.Integer({ minimum: 0 }),
    limit: Type.Integer({ minimum: 1 }),
    total: Type.Union([Type.Integer({ minimum: 0 }), Type.Null()]),
    complete: Type.Boolean()
  });
/** A window of a long list. */
export interface Window<T> {
  items: T[];
  offset: number;
  limit: number;
  total: number | null;
  complete: boolean;
}

/**
 * The order of a windowed list other than Rucio's: by name (natural order, `f2` before `f10`) or
 * by size (largest first). The companion reads the whole list to sort it, up to
 * {@link MAX_SORTED_ROWS} rows.
 */
export const ListOrder = Type.Union([Type.Literal('name'), Type.Literal('size')]);
/** The order of a windowed list other than Rucio's. */
export type ListOrder = Static<typeof ListOrder>;

/** The longest list the companion sorts; longer ones keep Rucio's order. */
export const MAX_SORTED_ROWS = 500_000;

/** Query of every windowed list. */
export const WindowQuery = Type.Object({
  offset: Type.Optional(Type.Integer({ minimum: 0, maximum: 100_000_000 })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 5000 }))
});

/** How an instance signs its user in to Rucio. */
export const AuthMethod = Type.Union([
  Type.Literal('userpass'),
  Type.Literal('x509'),
  Type.Literal('token'),
  Type.Literal('jupyterhub'),
  Type.Literal('device')
]);
/** How an instance signs its user in to Rucio. */
export type AuthMethod = Static<typeof AuthMethod>;

/** A configured Rucio instance, as the panel sees it (no URLs with secrets, no credentials). */
export const Instance = Type.Object({
  name: Type.String(),
  displayName: Type.String(),
  authMethod: AuthMethod,
  /** The scratch RSE "make available" replicates to; empty for an instance in download mode. */
  scratchRse: Type.String(),
  /** `download`: the instance has no scratch RSE, and the panel offers Download instead. */
  mode: Type.Optional(Type.Union([Type.Literal('replica'), Type.Literal('download')])),
  isDefault: Type.Boolean(),
  /**
   * Where made-available files are on the user's server: `fuse`, the companion's own read-only
   * folder at `mountPoint` (with `problem` saying why it is not mounted, when it is not: paths
   * then come from the configured prefix mappings, if any); `prefix`, a site mount; `none`.
   */
  paths: Type.Optional(
    Type.Object({
      mode: Type.Union([Type.Literal('fuse'), Type.Literal('prefix'), Type.Literal('none')]),
      mountPoint: Type.Optional(Type.String()),
      problem: Type.Optional(Type.String())
    })
  )
});
/** A configured Rucio instance. */
export type Instance = Static<typeof Instance>;

/** `GET /api/instances`. */
export const InstancesResponse = Type.Object({
  instances: Type.Array(Instance),
  /** When no instance is configured: a sentence saying how to configure one. */
  message: Type.Optional(Type.String()),
  /**
   * The home directory of the user's server, where JupyterLab abbreviates its root folder as `~`:
   * the panel needs it to show local paths in the file browser.
   */
  home: Type.Optional(Type.String())
});
/** `GET /api/instances`. */
export type InstancesResponse = Static<typeof InstancesResponse>;

/** A device sign-in in progress: the code the user enters at the provider, and where. */
export const DeviceSignIn = Type.Object({
  userCode: Type.String(),
  verificationUri: Type.String(),
  verificationUriComplete: Type.Union([Type.String(), Type.Null()]),
  expiresAt: Type.String()
});
/** A device sign-in in progress. */
export type DeviceSignIn = Static<typeof DeviceSignIn>;

/** Whether the companion can act for the user on an instance. */
export const AuthStatus = Type.Object({
  instance: Type.String(),
  method: AuthMethod,
  signedIn: Type.Boolean(),
  account: Type.Union([Type.String(), Type.Null()]),
  /** When not signed in: what happened and what to do. */
  message: Type.Optional(Type.String()),
  /** A device sign-in waiting for the user, for instances signing in with the device flow. */
  deviceSignIn: Type.Optional(DeviceSignIn)
});
/** Whether the companion can act for the user on an instance. */
export type AuthStatus = Static<typeof AuthStatus>;

/** `GET .../scopes`. */
export const ScopesResponse = Type.Object({ scopes: Type.Array(Type.String()) });
/** `GET .../scopes`. */
export type ScopesResponse = Static<typeof ScopesResponse>;

/** A comparison in a metadata filter. */
export const FilterOperator = Type.Union([
  Type.Literal('='),
  Type.Literal('!='),
  Type.Literal('>'),
  Type.Literal('>='),
  Type.Literal('<'),
  Type.Literal('<=')
]);
/** A comparison in a metadata filter. */
export type FilterOperator = Static<typeof FilterOperator>;

/** One metadata condition: key, operator, value. */
export const MetadataCondition = Type.Object(
  {
    key: Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]{0,63}$' }),
    operator: FilterOperator,
    value: Type.Union([Type.String({ maxLength: 250 }), Type.Number(), Type.Boolean()])
  },
  { additionalProperties: false }
);
/** One metadata condition: key, operator, value. */
export type MetadataCondition = Static<typeof MetadataCondition>;

/** What to search: a DID pattern, a type and metadata filters (OR of AND groups). */
export const SearchRequest = Type.Object(
  {
    /** `scope:name`, with `*` wildcards in the name. */
    did: Type.String({ minLength: 3, maxLength: 300 }),
    type: Type.Optional(
      Type.Union([
        Type.Literal('all'),
        Type.Literal('collection'),
        Type.Literal('container'),
        Type.Literal('dataset'),
        Type.Literal('file')
      ])
    ),
    /** OR of AND groups of conditions; empty means no metadata filter. */
    filters: Type.Optional(
      Type.Array(Type.Array(MetadataCondition, { minItems: 1, maxItems: 20 }), { maxItems: 10 })
    ),
    offset: Type.Optional(Type.Integer({ minimum: 0, maximum: 100_000_000 })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 5000 })),
    /** Rucio's order when absent. */
    sort: Type.Optional(ListOrder)
  },
  { additionalProperties: false }
);
/** What to search. */
export type SearchRequest = Static<typeof SearchRequest>;

/** Where a DID's files have replicas: per RSE, how many files and bytes are there. */
export const ReplicaSummary = Type.Object({
  rse: Type.String(),
  files: Type.Integer(),
  bytes: Type.Number(),
  /** Files whose replica there is AVAILABLE. */
  availableFiles: Type.Integer()
});
/** Where a DID's files have replicas. */
export type ReplicaSummary = Static<typeof ReplicaSummary>;

/** A replication rule on a DID. */
export const RuleSummary = Type.Object({
  id: Type.String(),
  account: Type.String(),
  rseExpression: Type.String(),
  state: Type.String(),
  locksOk: Type.Integer(),
  locksReplicating: Type.Integer(),
  locksStuck: Type.Integer(),
  expiresAt: Type.Union([Type.String(), Type.Null()]),
  error: Type.Union([Type.String(), Type.Null()])
});
/** A replication rule on a DID. */
export type RuleSummary = Static<typeof RuleSummary>;

/** One DID in detail. */
export const DidDetails = Type.Object({
  did: Did,
  metadata: Type.Record(Type.String(), Type.Unknown()),
  replicas: Type.Array(ReplicaSummary),
  rules: Type.Array(RuleSummary)
});
/** One DID in detail. */
export type DidDetails = Static<typeof DidDetails>;

/** Where a DID stands toward the scratch RSE. */
export const AvailabilityState = Type.Union([
  Type.Literal('NOT_AVAILABLE'),
  Type.Literal('REPLICATING'),
  Type.Literal('AVAILABLE'),
  Type.Literal('STUCK')
]);
/** Where a DID stands toward the scratch RSE. */
export type AvailabilityState = Static<typeof AvailabilityState>;

/** A DID's availability on the scratch RSE, with progress. */
export const Availability = Type.Object({
  instance: Type.String(),
  did: Type.String(),
  state: AvailabilityState,
  ruleId: Type.Union([Type.String(), Type.Null()]),
  /** Rucio's own rule state (e.g. WAITING_APPROVAL), for the curious. */
  ruleState: Type.Union([Type.String(), Type.Null()]),
  files: Type.Object({
    ok: Type.Integer(),
    replicating: Type.Integer(),
    stuck: Type.Integer(),
    total: Type.Union([Type.Integer(), Type.Null()])
  }),
  totalBytes: Type.Union([Type.Number(), Type.Null()]),
  expiresAt: Type.Union([Type.String(), Type.Null()]),
  /** Rucio's reason when STUCK. */
  error: Type.Union([Type.String(), Type.Null()])
});
/** A DID's availability on the scratch RSE, with progress. */
export type Availability = Static<typeof Availability>;

/** The local path of one available file. */
export const LocalPath = Type.Object({
  scope: Type.String(),
  name: Type.String(),
  path: Type.Union([Type.String(), Type.Null()]),
  bytes: Type.Union([Type.Number(), Type.Null()]),
  /** Why a file that is on the scratch RSE has no path, when the reason lies in the file itself. */
  problem: Type.Optional(Type.String())
});
/** The local path of one available file. */
export type LocalPath = Static<typeof LocalPath>;

/** `POST .../make-available` body. */
export const MakeAvailableRequest = Type.Object(
  { did: Type.String({ minLength: 3, maxLength: 300 }) },
  { additionalProperties: false }
);
/** `POST .../make-available` body. */
export type MakeAvailableRequest = Static<typeof MakeAvailableRequest>;

/** `POST .../make-available` answer: the availability, and whether this call created the rule. */
export const MakeAvailableResponse = Type.Object({
  availability: Availability,
  created: Type.Boolean()
});
/** `POST .../make-available` answer. */
export type MakeAvailableResponse = Static<typeof MakeAvailableResponse>;

/** `GET .../transfers` answer: the user's replications toward the scratch RSE under way now. */
export const TransfersResponse = Type.Object({
  transfers: Type.Array(Availability)
});
/** `GET .../transfers` answer. */
export type TransfersResponse = Static<typeof TransfersResponse>;

/** `POST .../retry` body: the DID whose stuck rule Rucio should retry now. */
export const RetryRequest = MakeAvailableRequest;
/** `POST .../retry` body. */
export type RetryRequest = MakeAvailableRequest;

/** Machine-readable error codes; the message is the sentence for the user. */
export const ErrorCode = Type.Union([
  Type.Literal('bad_request'),
  Type.Literal('not_found'),
  Type.Literal('not_signed_in'),
  Type.Literal('forbidden'),
  Type.Literal('quota_exceeded'),
  Type.Literal('rse_blocked'),
  Type.Literal('conflict'),
  Type.Literal('not_configured'),
  Type.Literal('rucio_unreachable'),
  Type.Literal('rucio_error'),
  Type.Literal('too_large'),
  Type.Literal('internal')
]);
/** Machine-readable error codes. */
export type ErrorCode = Static<typeof ErrorCode>;

/** Every error answer of the companion. */
export const ErrorResponse = Type.Object({
  error: Type.Object({ code: ErrorCode, message: Type.String() })
});
/** Every error answer of the companion. */
export type ErrorResponse = Static<typeof ErrorResponse>;

/** Server-sent event `availability`: the new availability of a watched DID. */
export const AvailabilityEvent = Availability;
/** Server-sent event `availability`. */
export type AvailabilityEvent = Availability;

/**
 * Server-sent event `problem`: the companion's tracker cannot read Rucio (unreachable, or the
 * user's session ended), with its sentence. Sent once per outage; the availabilities shown may be
 * out of date until `recovered`, while the tracker keeps trying.
 */
export const ProblemEvent = Type.Object({ code: ErrorCode, message: Type.String() });
/** Server-sent event `problem`. */
export type ProblemEvent = Static<typeof ProblemEvent>;

export * from './downloads.js';
export * from './uploads.js';
