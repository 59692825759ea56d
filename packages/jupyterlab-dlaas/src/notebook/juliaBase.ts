/**
 * The names Julia's `Main` sees from `Base` and `Core` that a variable could take: the identifiers
 * of Base's `export` list (`base/exports.jl`) and of Core's (at the top of `base/boot.jl`), less
 * operators, non-ASCII names (π, ℯ), macros and the keywords `in` and `isa`. Assigning one of them
 * in a notebook's `Main` would hide it from the user's code (or fail, once the code has used it).
 *
 * From the JuliaLang/julia sources of the Julia 1.11 cycle, as a public source index held them
 * (no copy at a release tag was at hand): `base/exports.jl` at commit 08f30c3259d0 (it exports
 * `IdSet` and `ScopedValue`; the NEWS.md stored with it is the "Julia v1.11 Release Notes") and
 * `base/boot.jl` at c5e9e7c283f1. A name or two of it may have been unexported before 1.11.0
 * (`wrap`, say): refusing those costs nothing. Regenerate with Julia 1.11 or later, then drop `in`
 * and `isa`:
 *   julia -e 'for m in (Base, Core); n = filter(x -> Base.isexported(m, x) &&
 *     occursin(r"^[A-Za-z_][A-Za-z0-9_!]*$", String(x)), names(m));
 *     println(m, ": ", join(sort(String.(n)), " ")); end'
 */
export const JULIA_BASE_EXPORTS: readonly string[] = `
__precompile__ abs abs2 abspath AbstractChannel AbstractDict AbstractDisplay AbstractIrrational
AbstractMatch AbstractMatrix AbstractPattern AbstractRange AbstractSet AbstractSlices
AbstractUnitRange AbstractVecOrMat AbstractVector accumulate accumulate! acos acosd acosh acot
acotd acoth acsc acscd acsch addenv adjoint all all! allequal allunique angle any any! append!
argmax argmin ARGS Array ascii asec asecd asech asin asind asinh asyncmap asyncmap! atan atand
atanh atexit atreplinit axes backtrace basename big BigFloat BigInt bind binomial BitArray
BitMatrix bitreverse bitrotate BitSet bitstring BitVector Broadcast broadcast broadcast! bswap
bytes2hex bytesavailable C_NULL CanonicalIndexError CapturedException CartesianIndex
CartesianIndices cat catch_backtrace cbrt Cchar cd Cdouble ceil Cfloat cglobal Channel checkbounds
checkindex chmod chomp chop chopprefix chopsuffix chown Cint Cintmax_t circcopy! circshift
circshift! cis cispi clamp clamp! cld Clong Clonglong close closewrite Cmd cmp coalesce
code_lowered code_typed codepoint codeunit codeunits collect Colon ColumnSlices Complex complex
ComplexF16 ComplexF32 ComplexF64 ComposedFunction CompositeException Condition conj conj! contains
contractuser convert copy copy! copyline copysign copyto! copyuntil cos cosc cosd cosh cospi cot
cotd coth count count! count_ones count_zeros countlines cp Cptrdiff_t csc cscd csch Cshort Csize_t
Cssize_t Cstring ctime Cuchar Cuint Cuintmax_t Culong Culonglong cumprod cumprod! cumsum cumsum!
current_exceptions current_task Cushort Cwchar_t Cwstring deepcopy deg2rad delete! deleteat!
denominator DenseMatrix DenseVecOrMat DenseVector DEPOT_PATH detach devnull Dict diff digits
digits! DimensionMismatch Dims dirname disable_sigint diskstat display displayable displaysize div
divrem Docs download dropdims dump eachcol eachindex eachline eachmatch eachrow eachrsplit
eachslice eachsplit eltype empty empty! ENDIAN_BOM endswith Enum enumerate ENV eof EOFError eps
error errormonitor esc escape_string evalfile evalpoly exit exp exp10 exp2 expanduser expm1
exponent ExponentialBackOff extrema extrema! factorial falses fd fdio fetch fieldcount fieldname
fieldnames fieldoffset fieldtypes filemode filesize fill fill! filter filter! finalize finalizer
findall findfirst findlast findmax findmax! findmin findmin! findnext findprev first firstindex fld
fld1 fldmod fldmod1 flipsign float floatmax floatmin floor flush fma foldl foldr foreach fourthroot
frexp fullname functionloc GC gcd gcdx gensym get get! get_zero_subnormals gethostname getindex
getkey getpid getproperty gperm hardlink hasfield hash haskey hasmethod hasproperty hcat hex2bytes
hex2bytes! homedir HTML htol hton hvcat hvncat hypot IdDict identity IdSet ifelse ignorestatus im
imag in! include_dependency include_string IndexCartesian indexin IndexLinear IndexStyle Inf Inf16
Inf32 Inf64 insert! InsertionSort insorted instances intersect intersect! inv InvalidStateException
invmod invokelatest invperm invpermute! IOBuffer IOContext IOStream Irrational isabspath
isabstracttype isapprox isascii isassigned isbits isbitstype isblockdev ischardev iscntrl
isconcretetype isconst isdigit isdir isdirpath isdisjoint isdispatchtuple isempty isequal iseven
isfifo isfile isfinite isinf isinteger isinteractive isless isletter islink islocked islowercase
ismarked ismissing ismount ismutable ismutabletype isnan isnothing isnumeric isodd isone isopen
ispath isperm ispow2 isprimitivetype isprint ispunct isqrt isreadable isreadonly isready isreal
issetequal issetgid issetuid issocket issorted isspace issticky isstructtype issubnormal issubset
istaskdone istaskfailed istaskstarted istextmime isunordered isuppercase isvalid iswritable
isxdigit iszero iterate Iterators join joinpath keepat! KeyError keys keytype kill kron kron! last
lastindex LazyString lcm ldexp leading_ones leading_zeros length Libc LinearIndices LinRange
LOAD_PATH lock log log10 log1p log2 lowercase lowercasefirst lpad lstat lstrip ltoh macroexpand map
map! mapfoldl mapfoldr mapreduce mapslices mark match MathConstants Matrix max maximum maximum!
maxintfloat merge merge! MergeSort mergewith mergewith! Meta methods MIME min minimum minimum!
minmax Missing missing MissingException mkdir mkpath mktemp mktempdir mod mod1 mod2pi modf
modifyproperty! mtime muladd mv nameof names NaN NaN16 NaN32 NaN64 nand ncodeunits ndigits ndims
nextfloat nextind nextpow nextprod nonmissingtype nor normpath notify ntoh NTuple ntuple numerator
objectid occursin oftype one ones oneunit only open operm OrdinalRange Pair pairs parent
parentindices parentmodule parse PartialQuickSort partialsort partialsort! partialsortperm
partialsortperm! pathof peek permute! PermutedDimsArray permutedims permutedims! pi Pipe PipeBuffer
pipeline pkgdir pkgversion pointer pointer_from_objref pop! popat! popdisplay popfirst! position
powermod precision precompile prepend! prevfloat prevind prevpow print println printstyled
process_exited process_running ProcessFailedException prod prod! PROGRAM_FILE promote promote_rule
promote_shape promote_type propertynames push! pushdisplay pushfirst! put! pwd QuickSort rad2deg
rand randn range Rational rationalize RawFD read read! readavailable readbytes! readchomp readdir
readeach readline readlines readlink readuntil real realpath redirect_stderr redirect_stdin
redirect_stdio redirect_stdout redisplay reduce reenable_sigint ReentrantLock Regex RegexMatch reim
reinterpret relpath rem rem2pi repeat replace replace! replaceproperty! repr reset reshape resize!
rethrow retry Returns reverse reverse! reverseind rm rot180 rotl90 rotr90 round RoundDown
RoundFromZero rounding RoundingMode RoundNearest RoundNearestTiesAway RoundNearestTiesUp
RoundToZero RoundUp RowSlices rpad rsplit rstrip run samefile schedule ScopedValue searchsorted
searchsortedfirst searchsortedlast sec secd sech seek seekend seekstart selectdim Set
set_zero_subnormals setcpuaffinity setdiff setdiff! setenv setindex! setprecision setproperty!
setpropertyonce! setrounding show showable showerror sign signbit signed significand similar sin
sinc sincos sincosd sincospi sind sinh sinpi size sizehint! sizeof skip skipchars skipmissing sleep
Slices Some something sort sort! sortperm sortperm! sortslices splat splice! split splitdir
splitdrive splitext splitpath sprint sqrt stack stacktrace StackTraces startswith stat stderr stdin
stdout step StepRange StepRangeLen stride StridedArray StridedMatrix StridedVecOrMat StridedVector
strides string StringIndexError strip SubArray SubstitutionString SubString success sum sum!
summary supertype swapproperty! symdiff symdiff! symlink Sys SystemError systemerror take! tan tand
tanh tanpi task_local_storage TaskFailedException tempdir tempname Text TextDisplay textwidth
thisind Threads time time_ns timedwait Timer titlecase to_indices touch trailing_ones
trailing_zeros transcode transpose trues trunc truncate trylock tryparse typeintersect typejoin
typemax typemin unescape_string union union! unique unique! UnitRange unlock unmark unsafe_copyto!
unsafe_load unsafe_modify! unsafe_pointer_to_objref unsafe_read unsafe_replace! unsafe_store!
unsafe_string unsafe_swap! unsafe_trunc unsafe_wrap unsafe_write unsigned uperm uppercase
uppercasefirst Val valtype values vcat vec VecOrMat Vector VERSION VersionNumber view wait walkdir
WeakKeyDict which widemul widen with withenv wrap write xor yield yieldto zero zeros zip
`
  .trim()
  .split(/\s+/);

/** Core's exported names with the same filter (`Any`, `Int`, `String`, `typeof`, `nothing`, ...). */
export const JULIA_CORE_EXPORTS: readonly string[] = `
AbstractArray AbstractChar AbstractFloat AbstractString Any applicable ArgumentError Array
AssertionError Bool BoundsError Char ConcurrencyViolationError Cvoid DataType DenseArray
DivideError DomainError ErrorException eval Exception Expr fieldtype Float16 Float32 Float64
Function GenericMemory GenericMemoryRef getfield getglobal GlobalRef InexactError InitError Int
Int128 Int16 Int32 Int64 Int8 Integer InterruptException invoke IO isdefined LineNumberNode
LoadError Main Memory MemoryRef Method MethodError modifyfield! Module NamedTuple nfields Nothing
nothing NTuple Number OutOfMemoryError OverflowError Pair Ptr QuoteNode ReadOnlyMemoryError Real
Ref replacefield! SegmentationFault setfield! setglobal! Signed StackOverflowError String
swapfield! Symbol Task throw Tuple tuple Type typeassert TypeError typeof TypeVar UInt UInt128
UInt16 UInt32 UInt64 UInt8 undef UndefInitializer UndefKeywordError UndefRefError UndefVarError
Union UnionAll Unsigned Vararg VecElement WeakRef
`
  .trim()
  .split(/\s+/);
