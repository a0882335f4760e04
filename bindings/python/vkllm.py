"""vkllm from Python: ctypes over the installed shared library (libvkllm.so).

Standard library only. The library is found through $VKLLM_LIBRARY (a path),
else the system's library search (ctypes.util.find_library("vkllm")), else
the soname itself.

    import vkllm
    for d in vkllm.devices():
        print(d.index, d.name, d.device_local_bytes)
    with vkllm.Model("model.gguf", n_ctx=2048, progress=lambda done, total: print(done, total)) as model:
        session = model.session()
        for text in session.chat([("user", "Hello, who are you?")], max_tokens=64):
            print(text, end="", flush=True)
        ids = model.tokenize("Hello")            # [1, ...] with BOS
        print(model.detokenize(ids))

Errors raise vkllm.Error (subclasses per status: NoVulkan, NoDevice,
OutOfMemory, InvalidArgument, IOError_, FormatError, Unsupported, ...) with
the library's own message. Threads follow include/vkllm.h: different
sessions of one model may generate on different threads at once; one session
is used by one thread at a time.
"""

import ctypes
import ctypes.util
import os
import queue
import threading
import weakref

__all__ = ["Error", "Device", "Model", "Session", "Stream", "Tokenizer", "Stats", "devices", "library"]

_c = ctypes
_u32, _i32, _u64, _int, _f32, _f64 = _c.c_uint32, _c.c_int32, _c.c_uint64, _c.c_int, _c.c_float, _c.c_double
_PAD = 512  # options structs are allocated this much larger, zeroed: fields a newer library appends read as 0


# ------------------------------------------------------------------ errors

_STATUS = ["OK", "INVALID_ARG", "NO_VULKAN", "NO_DEVICE", "VULKAN", "OUT_OF_MEMORY", "UNSUPPORTED", "VALIDATION",
           "IO", "FORMAT", "CHECK_FAILED"]


class Error(Exception):
    """A vkllm call failed: .status (e.g. "VKLLM_ERR_NO_VULKAN"), .message (the library's)."""

    def __init__(self, status, message):
        self.code = status
        self.status = "VKLLM_ERR_" + _STATUS[status] if 0 < status < len(_STATUS) else "VKLLM_ERR_%d" % status
        self.message = message
        super().__init__("%s: %s" % (self.status, message) if message else self.status)


class InvalidArgument(Error, ValueError): pass
class NoVulkan(Error): pass
class NoDevice(Error): pass
class VulkanError(Error): pass
class OutOfMemory(Error, MemoryError): pass
class Unsupported(Error): pass
class ValidationError(Error): pass
class IOError_(Error, OSError): pass
class FormatError(Error): pass
class CheckFailed(Error): pass


_ERRORS = [None, InvalidArgument, NoVulkan, NoDevice, VulkanError, OutOfMemory, Unsupported, ValidationError,
           IOError_, FormatError, CheckFailed]


def _raise(status, message):
    cls = _ERRORS[status] if 0 < status < len(_ERRORS) else Error
    raise cls(status, message)


def _err_buf():
    return _c.create_string_buffer(1024)


def _check(status, err):
    if status != 0:
        _raise(status, err.value.decode("utf-8", "replace") if err is not None else "")


# ------------------------------------------------------------------ structs

class _DeviceInfo(_c.Structure):
    _fields_ = [("index", _u32), ("name", _c.c_char * 256), ("type", _int), ("vendor_id", _u32),
                ("device_id", _u32), ("driver_name", _c.c_char * 256), ("driver_info", _c.c_char * 256),
                ("api_version", _u32), ("fp16_arith", _int), ("int8_arith", _int), ("storage16", _int),
                ("storage8", _int), ("subgroup_size", _u32), ("subgroup_min", _u32), ("subgroup_max", _u32),
                ("subgroup_size_control", _int), ("subgroup_arith", _int), ("subgroup_shuffle", _int),
                ("coopmat_nv", _int), ("max_storage_buffer_range", _u64), ("max_texel_buffer_elements", _u64),
                ("max_memory_allocation_size", _u64), ("max_shared_memory", _u32),
                ("max_workgroup_invocations", _u32), ("max_push_constants", _u32), ("n_heaps", _u32),
                ("heap_size", _u64 * 16), ("heap_device_local", _int * 16), ("device_local_bytes", _u64),
                ("timestamps", _int), ("timestamp_period_ns", _f64), ("memory_budget", _int),
                ("device_local_free", _u64)]


class _ModelInfo(_c.Structure):
    _fields_ = [("format", _c.c_char * 16), ("architecture", _c.c_char * 64), ("n_layer", _u32), ("n_embd", _u32),
                ("n_ff", _u32), ("n_head", _u32), ("n_head_kv", _u32), ("head_dim", _u32), ("n_vocab", _u32),
                ("n_ctx_train", _u32), ("n_rot", _u32), ("rope_theta", _f32), ("rms_eps", _f32),
                ("tied_embeddings", _int), ("rope_pairing", _int), ("n_tensors", _u64), ("n_tensors_f32", _u64),
                ("n_tensors_f16", _u64), ("n_tensors_bf16", _u64), ("n_params", _u64), ("file_bytes", _u64),
                ("tensor_types", _c.c_char * 512), ("device_weight_bytes", _u64),
                ("decode_bytes_per_token", _u64), ("weight_type", _c.c_char * 16), ("quant_search", _c.c_char * 8)]


_PROGRESS = _c.CFUNCTYPE(_int, _u64, _u64, _c.c_void_p)
_TOKEN = _c.CFUNCTYPE(_int, _i32, _c.POINTER(_c.c_char), _c.c_size_t, _c.c_void_p)
_PREFILL = _c.CFUNCTYPE(_int, _u32, _u32, _c.c_void_p)


class _LoadOptions(_c.Structure):
    _fields_ = [("device", _c.c_char_p), ("validate", _int), ("n_ctx", _u32), ("progress", _PROGRESS),
                ("progress_user", _c.c_void_p), ("quant", _c.c_char_p),
                ("synthetic_type", _c.c_char_p), ("quant_search", _c.c_char_p)]


class _SessionOptions(_c.Structure):
    _fields_ = [("n_ctx", _u32), ("n_batch", _u32), ("max_timed", _u32)]


class _Sampling(_c.Structure):
    _fields_ = [("temperature", _f32), ("top_k", _i32), ("top_p", _f32), ("min_p", _f32),
                ("repeat_penalty", _f32), ("repeat_last_n", _i32), ("seed", _u64), ("frequency_penalty", _f32),
                ("presence_penalty", _f32)]


class _GenerateOptions(_c.Structure):
    _fields_ = [("sampling", _Sampling), ("max_tokens", _u32), ("stop", _c.POINTER(_c.c_char_p)),
                ("n_stop", _c.c_size_t), ("on_token", _TOKEN), ("user", _c.c_void_p), ("on_prefill", _PREFILL)]


class _GenerateStats(_c.Structure):
    _fields_ = [("n_prompt", _u32), ("n_reused", _u32), ("n_generated", _u32), ("prompt_s", _f64),
                ("gen_s", _f64), ("reason", _int)]


class _Message(_c.Structure):
    _fields_ = [("role", _int), ("text", _c.c_char_p)]


def _padded(cls):
    """A zeroed cls with _PAD spare bytes after it (kept alive by the returned buffer)."""
    buf = (_c.c_char * (_c.sizeof(cls) + _PAD))()
    return cls.from_buffer(buf), buf


# ------------------------------------------------------------------ the library

_lib = None
_lib_lock = threading.Lock()


def library():
    """The loaded ctypes.CDLL (loaded on first use)."""
    global _lib
    with _lib_lock:
        if _lib is None:
            _lib = _load()
        return _lib


def _load():
    path = os.environ.get("VKLLM_LIBRARY") or ctypes.util.find_library("vkllm") or "libvkllm.so.0.1"
    try:
        lib = _c.CDLL(path)
    except OSError as e:
        raise OSError("cannot load libvkllm (%s): %s; install vkllm (`meson install`) or set VKLLM_LIBRARY to the "
                      "path of libvkllm.so" % (path, e)) from None
    P, cp, sz, vp = _c.POINTER, _c.c_char_p, _c.c_size_t, _c.c_void_p
    sigs = {
        "vkllm_status_name": (cp, [_int]),
        "vkllm_list_devices": (_int, [P(_DeviceInfo), _u32, P(_u32), cp, sz]),
        "vkllm_model_load": (_int, [cp, P(_LoadOptions), P(vp), cp, sz]),
        "vkllm_model_free": (None, [vp]),
        "vkllm_model_get_info": (P(_ModelInfo), [vp]),
        "vkllm_model_device": (P(_DeviceInfo), [vp]),
        "vkllm_model_tokenizer": (vp, [vp]),
        "vkllm_model_tokenizer_error": (cp, [vp]),
        "vkllm_model_chat_template": (cp, [vp, P(_int)]),
        "vkllm_session_create": (_int, [vp, P(_SessionOptions), P(vp), cp, sz]),
        "vkllm_session_free": (None, [vp]),
        "vkllm_session_pos": (_u32, [vp]),
        "vkllm_session_n_ctx": (_u32, [vp]),
        "vkllm_session_rewind": (_int, [vp, _u32]),
        "vkllm_session_error": (cp, [vp]),
        "vkllm_tokenizer_load": (_int, [cp, P(vp), cp, sz]),
        "vkllm_tokenizer_free": (None, [vp]),
        "vkllm_tokenize": (_int, [vp, cp, sz, _c.c_uint, P(P(_i32)), P(sz), cp, sz]),
        "vkllm_detokenize": (_int, [vp, P(_i32), sz, P(vp), P(sz), cp, sz]),
        "vkllm_token_piece": (cp, [vp, _i32]),
        "vkllm_tokenizer_n_vocab": (_u32, [vp]),
        "vkllm_token_bos": (_i32, [vp]),
        "vkllm_token_eos": (_i32, [vp]),
        "vkllm_free": (None, [vp]),
        "vkllm_sampling_default": (_Sampling, []),
        "vkllm_sampling_greedy": (_Sampling, []),
        "vkllm_generate": (_int, [vp, P(_i32), sz, P(_GenerateOptions), P(_GenerateStats)]),
        "vkllm_chat": (_int, [vp, cp, P(_Message), sz, P(_GenerateOptions), P(_GenerateStats)]),
    }
    for name, (res, args) in sigs.items():
        f = getattr(lib, name)
        f.restype, f.argtypes = res, args
    return lib


def _s(b):
    return b.decode("utf-8", "replace") if b is not None else None


# ------------------------------------------------------------------ devices

_DEVICE_TYPES = ["other", "integrated", "discrete", "virtual", "cpu"]


class _Closing:
    """`with` closes it, and so does garbage collection (close() may run more than once)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        self.close()


class Device:
    """One Vulkan device (vkllm_device_info), as plain attributes."""

    def __init__(self, d):
        for name, _ in _DeviceInfo._fields_:
            v = getattr(d, name)
            if isinstance(v, bytes):
                v = _s(v)
            elif hasattr(v, "_length_"):
                v = list(v)[: d.n_heaps]
            setattr(self, name, v)
        self.type = _DEVICE_TYPES[d.type] if 0 <= d.type < len(_DEVICE_TYPES) else "other"

    def __repr__(self):
        return "Device(%d, %r, %s, %.1f GiB)" % (self.index, self.name, self.type, self.device_local_bytes / 2**30)


def devices():
    """Every Vulkan device, a list of Device. Raises NoVulkan without a loader or driver."""
    lib = library()
    err, n = _err_buf(), _u32(0)
    _check(lib.vkllm_list_devices(None, 0, _c.byref(n), err, len(err)), err)
    arr = (_DeviceInfo * max(n.value, 1))()
    _check(lib.vkllm_list_devices(arr, n.value, _c.byref(n), err, len(err)), err)
    return [Device(arr[i]) for i in range(min(n.value, len(arr)))]


# ------------------------------------------------------------------ text

class Tokenizer:
    """A tokenizer: Tokenizer(path) loads one on its own (a model, tokenizer.json or vocab GGUF);
    Model.tokenizer is a model's."""

    def __init__(self, path=None, _handle=None, _owner=None):
        self._lib = library()
        self._owned = _handle is None
        self._owner = _owner  # a model's tokenizer keeps the model alive
        if _handle is None:
            err, h = _err_buf(), _c.c_void_p()
            self._h = None
            _check(self._lib.vkllm_tokenizer_load(os.fsencode(path), _c.byref(h), err, len(err)), err)
            _handle = h.value
        self._h = _handle

    def close(self):
        if self._h and self._owned:
            self._lib.vkllm_tokenizer_free(self._h)
        self._h = None

    def __del__(self):
        self.close()

    def _handle(self):
        if not self._h or (self._owner is not None and not self._owner._h):
            raise InvalidArgument(1, "the tokenizer (or its model) is closed")
        return self._h

    @property
    def n_vocab(self):
        return self._lib.vkllm_tokenizer_n_vocab(self._handle())

    @property
    def bos(self):
        return self._lib.vkllm_token_bos(self._handle())

    @property
    def eos(self):
        return self._lib.vkllm_token_eos(self._handle())

    def piece(self, token):
        """The stored piece of a token ("▁Hello", "<0x0A>"); None if out of range."""
        return _s(self._lib.vkllm_token_piece(self._handle(), token))

    def tokenize(self, text, bos=True, special=False):
        """Token ids of text (str or UTF-8 bytes); bos: prepend BOS; special: "<s>" etc. are special tokens."""
        b = text.encode("utf-8") if isinstance(text, str) else bytes(text)
        ids, n, err = _c.POINTER(_i32)(), _c.c_size_t(0), _err_buf()
        flags = (1 if bos else 0) | (2 if special else 0)
        _check(self._lib.vkllm_tokenize(self._handle(), b, len(b), flags, _c.byref(ids), _c.byref(n), err, len(err)), err)
        try:
            return ids[: n.value]
        finally:
            self._lib.vkllm_free(ids)

    def detokenize(self, ids):
        """The text of token ids (special tokens skipped)."""
        arr = (_i32 * max(len(ids), 1))(*ids)
        text, n, err = _c.c_void_p(), _c.c_size_t(0), _err_buf()
        _check(self._lib.vkllm_detokenize(self._handle(), arr, len(ids), _c.byref(text), _c.byref(n), err, len(err)), err)
        try:
            return _c.string_at(text.value, n.value).decode("utf-8", "replace")
        finally:
            self._lib.vkllm_free(text)


# ------------------------------------------------------------------ models

class Model(_Closing):
    """Weights on one device (vkllm_model_load). Model(path, device=None, n_ctx=0, validate=False,
    progress=None, quant=None, quant_search=None): progress(done_bytes, total_bytes) is called during the
    upload; a true return cancels. quant: quantize an F16/BF16/F32 model while it loads ("q4_k_m", "q8_0",
    ...); quant_search: its scale search, "exact" or "fast" (None: the device's default; info["quant_search"]
    says which ran)."""

    def __init__(self, path, device=None, n_ctx=0, validate=False, progress=None, quant=None, quant_search=None):
        self._lib = library()
        self._h = None
        opts, self._keep = _padded(_LoadOptions)
        opts.device = device.encode() if isinstance(device, str) else (str(device).encode() if device is not None else None)
        opts.validate = 1 if validate else 0
        opts.n_ctx = n_ctx
        opts.quant = quant.encode() if quant else None
        opts.quant_search = quant_search.encode() if quant_search else None
        failure = []
        if progress is not None:
            def cb(done, total, _user):
                try:
                    return 1 if progress(done, total) else 0
                except BaseException as e:  # re-raised after the call, which it cancels
                    failure.append(e)
                    return 1
            opts.progress = _PROGRESS(cb)
        err, h = _err_buf(), _c.c_void_p()
        st = self._lib.vkllm_model_load(os.fsencode(path), _c.byref(opts), _c.byref(h), err, len(err))
        if failure:
            raise failure[0]
        _check(st, err)
        self._h = h.value
        self._sessions = weakref.WeakSet()

    def close(self):
        """Frees the weights, closing the model's sessions first."""
        if self._h:
            for s in list(self._sessions):
                s.close()
            self._lib.vkllm_model_free(self._h)
        self._h = None

    @property
    def tokenizer(self):
        """The model's Tokenizer, or None when its files have none."""
        tok = self._lib.vkllm_model_tokenizer(self._h)
        return Tokenizer(_handle=tok, _owner=self) if tok else None

    @property
    def info(self):
        """The model's description (vkllm_model_info) as a dict."""
        i = self._lib.vkllm_model_get_info(self._h).contents
        return {n: (_s(getattr(i, n)) if isinstance(getattr(i, n), bytes) else getattr(i, n)) for n, _ in i._fields_}

    @property
    def device(self):
        return Device(self._lib.vkllm_model_device(self._h).contents)

    @property
    def chat_template(self):
        return _s(self._lib.vkllm_model_chat_template(self._h, None))

    def _tok(self):
        tok = self.tokenizer
        if tok is None:
            raise Unsupported(6, _s(self._lib.vkllm_model_tokenizer_error(self._h)) or "the model has no tokenizer")
        return tok

    def tokenize(self, text, bos=True, special=False):
        return self._tok().tokenize(text, bos, special)

    def detokenize(self, ids):
        return self._tok().detokenize(ids)

    def session(self, n_ctx=0, n_batch=0):
        """A new Session (its own KV cache) on this model."""
        return Session(self, n_ctx, n_batch)


class Stats:
    """What one generate/chat did (vkllm_generate_stats)."""

    REASONS = ["eos", "stop_string", "max_tokens", "context_full", "callback"]

    def __init__(self, st):
        self.n_prompt, self.n_reused, self.n_generated = st.n_prompt, st.n_reused, st.n_generated
        self.prompt_s, self.gen_s = st.prompt_s, st.gen_s
        self.reason = self.REASONS[st.reason] if 0 <= st.reason < len(self.REASONS) else str(st.reason)

    def __repr__(self):
        return "Stats(prompt=%d, reused=%d, generated=%d, reason=%s)" % (self.n_prompt, self.n_reused,
                                                                         self.n_generated, self.reason)


_ROLES = {"system": 0, "user": 1, "assistant": 2}


class Session(_Closing):
    """One KV cache over a model. generate() and chat() return a Stream: iterate it for the text as it is
    generated (str pieces); .tokens and .stats once it is done. One thread at a time per session."""

    def __init__(self, model, n_ctx=0, n_batch=0):
        self._lib = library()
        self._h = None
        self.model = model  # keeps the model alive while the session is
        opts, keep = _padded(_SessionOptions)
        opts.n_ctx, opts.n_batch = n_ctx, n_batch
        err, h = _err_buf(), _c.c_void_p()
        if not model._h:
            raise InvalidArgument(1, "the model is closed")
        _check(self._lib.vkllm_session_create(model._h, _c.byref(opts), _c.byref(h), err, len(err)), err)
        self._h = h.value
        model._sessions.add(self)

    def close(self):
        """Frees the KV cache. Not while a Stream of this session is still running."""
        if self._h:
            self._lib.vkllm_session_free(self._h)
        self._h = None

    @property
    def pos(self):
        return self._lib.vkllm_session_pos(self._h)

    @property
    def n_ctx(self):
        return self._lib.vkllm_session_n_ctx(self._h)

    def rewind(self, pos=0):
        st = self._lib.vkllm_session_rewind(self._h, pos)
        if st:
            _raise(st, _s(self._lib.vkllm_session_error(self._h)))

    def generate(self, prompt, max_tokens=0, stop=(), **sampling):
        """Generates after prompt (str: tokenized with BOS; or a list of token ids). sampling: temperature
        (0: greedy, the default), top_k, top_p, min_p, repeat_penalty, repeat_last_n, seed,
        frequency_penalty, presence_penalty."""
        if isinstance(prompt, (str, bytes)):
            prompt = self.model.tokenize(prompt, bos=True)
        ids = (_i32 * max(len(prompt), 1))(*prompt)
        n = len(prompt)
        return Stream(self, lambda o, st: self._lib.vkllm_generate(self._h, ids, n, o, st), max_tokens, stop, sampling)

    def chat(self, messages, max_tokens=0, stop=(), template=None, **sampling):
        """One chat turn: messages is the conversation so far, ending with the user's: (role, text) pairs
        or {"role":, "content":} dicts, role "system", "user" or "assistant". Append the reply (the joined
        stream) as an assistant message for the next turn; what is already in the cache is not evaluated
        again."""
        norm = []
        for m in messages:
            role, text = (m["role"], m["content"]) if isinstance(m, dict) else m
            if role not in _ROLES:
                raise InvalidArgument(1, "unknown role %r (system, user or assistant)" % (role,))
            norm.append((_ROLES[role], text.encode("utf-8")))
        arr = (_Message * max(len(norm), 1))(*[_Message(r, t) for r, t in norm])
        name = template.encode() if template else None
        n = len(norm)
        return Stream(self, lambda o, st: self._lib.vkllm_chat(self._h, name, arr, n, o, st), max_tokens, stop, sampling)


_DONE = object()


class Stream:
    """Text pieces as they are generated. The generation runs on a worker thread (the library calls back
    for every token); iterating waits for the next piece. Leaving the loop early stops the generation.
    After the end: .text, .tokens, .stats; a failure raises the library's error from the iterator."""

    def __init__(self, session, call, max_tokens, stop, sampling):
        lib = session._lib
        self._session = session
        self._q = queue.Queue()
        self._cancel = threading.Event()
        self.tokens, self.stats, self._pieces = [], None, []
        opts, self._keep = _padded(_GenerateOptions)
        s = lib.vkllm_sampling_greedy()
        for k, v in sampling.items():
            if k not in dict(_Sampling._fields_):
                raise InvalidArgument(1, "unknown sampling setting %r" % (k,))
            setattr(s, k, v)
        opts.sampling = s
        opts.max_tokens = max_tokens
        stops = [x.encode("utf-8") for x in stop]
        self._stops = (_c.c_char_p * max(len(stops), 1))(*stops)
        opts.stop, opts.n_stop = self._stops, len(stops)

        def on_token(token, text, length, _user):
            piece = _c.string_at(text, length).decode("utf-8", "replace") if length else ""
            self._q.put((token, piece))
            return 1 if self._cancel.is_set() else 0

        opts.on_token = self._cb = _TOKEN(on_token)
        self._opts = opts
        self._stats = _GenerateStats()

        def work():
            try:
                st = call(_c.byref(self._opts), _c.byref(self._stats))
                msg = _s(lib.vkllm_session_error(session._h)) if st else None
                self._q.put((_DONE, (st, msg)))
            except BaseException as e:  # noqa: BLE001 - handed to the consumer
                self._q.put((_DONE, (None, e)))

        self._thread = threading.Thread(target=work, name="vkllm-generate", daemon=True)
        self._thread.start()

    def __iter__(self):
        try:
            while True:
                token, piece = self._q.get()
                if token is _DONE:
                    st, msg = piece
                    self._thread.join()
                    if st is None:
                        raise msg
                    if st:
                        _raise(st, msg)
                    self.stats = Stats(self._stats)
                    return
                if token >= 0:
                    self.tokens.append(token)
                self._pieces.append(piece)
                if piece:
                    yield piece
        finally:
            if self.stats is None and self._thread.is_alive():  # the consumer left early: stop and wait
                self._cancel.set()
                while self._thread.is_alive():
                    try:
                        self._q.get(timeout=0.05)
                    except queue.Empty:
                        pass
                self._thread.join()

    @property
    def text(self):
        """Everything generated so far (all of it once iterated to the end)."""
        return "".join(self._pieces)

    def wait(self):
        """Runs to the end; returns the whole text."""
        for _ in self:
            pass
        return self.text
