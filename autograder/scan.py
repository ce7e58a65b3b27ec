"""A static scan of what a student wrote, for the ``review`` column of the grades CSV.

Only the cells a student can change are read (solution cells and cells the student added);
read-only cells are restored by nbgrader before grading. The scan flags code that reaches for
what honest answers never need: the kernel's internals, the grader's test helpers, processes,
the network, other memory, absolute paths. A flag is a reason to look, not a verdict.
"""
from __future__ import annotations

import ast
import re

from IPython.core.inputtransformer2 import TransformerManager

HELPERS = {"check_close", "check_equal", "check_shape", "check_raises", "checking", "twin",
           "CheckFailed", "grading"}
MODULES = {  # imported module (top-level name) -> why it is flagged
    "ctypes": "ctypes", "cffi": "cffi", "gc": "gc", "inspect": "inspect", "dis": "dis",
    "IPython": "IPython internals", "ipykernel": "IPython internals",
    "jupyter_client": "IPython internals", "zmq": "IPython internals", "traitlets": "IPython internals",
    "subprocess": "processes", "multiprocessing": "processes", "pty": "processes",
    "signal": "signals", "threading": "threads", "_thread": "threads", "concurrent": "threads",
    "socket": "network", "ssl": "network", "http": "network", "urllib": "network",
    "requests": "network", "asyncio": "event loop", "importlib": "import machinery",
    "builtins": "builtins", "mmap": "shared memory", "resource": "limits", "atexit": "exit hooks",
    "marshal": "code objects", "types": "code objects", "code": "code objects",
    "base64": "encoded data", "codecs": "encoded data", "zlib": "encoded data", "bz2": "encoded data",
    "lzma": "encoded data", "pickle": "pickle", "dill": "pickle", "operator": "attribute getters",
    "traceback": "stack frames", "sys": "", "os": "",
}
ATTRIBUTES = {  # attribute name -> why
    "__code__": "code objects", "__closure__": "closures", "__globals__": "function globals",
    "cell_contents": "closures", "__builtins__": "builtins", "__subclasses__": "interpreter internals",
    "_getframe": "stack frames", "f_globals": "stack frames",
    "f_locals": "stack frames", "f_back": "stack frames", "settrace": "trace hooks",
    "setprofile": "trace hooks", "addaudithook": "audit hooks", "excepthook": "exception hooks",
    "displayhook": "display hooks", "meta_path": "import machinery", "path_hooks": "import machinery",
    "_disabled": "the test helpers' state", "fork": "processes", "link": "links", "symlink": "links",
    "memfd_create": "memory files",
    "forkpty": "processes", "system": "processes", "popen": "processes", "posix_spawn": "processes",
    "kill": "signals", "killpg": "signals", "setsid": "processes", "execv": "processes",
    "execve": "processes", "execvp": "processes", "_exit": "exits the kernel",
    "input_transformers_cleanup": "IPython internals", "input_transformers_post": "IPython internals",
    "ast_transformers": "IPython internals", "showtraceback": "IPython internals",
    "set_custom_exc": "IPython internals", "register_magic_function": "IPython internals",
    "run_cell": "IPython internals",
    "__dict__": "namespaces", "__mro__": "interpreter internals", "__base__": "interpreter internals",
    "__bases__": "interpreter internals", "__setattr__": "interpreter internals",
    "__getattribute__": "interpreter internals", "__wrapped__": "code objects",
    "__self__": "interpreter internals", "__func__": "code objects",
    "walk_stack": "stack frames", "walk_tb": "stack frames", "extract_stack": "stack frames",
    "currentframe": "stack frames", "tb_frame": "stack frames", "gi_frame": "stack frames",
    "cr_frame": "stack frames", "f_code": "stack frames", "f_trace": "trace hooks",
    "posix_spawnp": "processes", "spawnv": "processes", "spawnl": "processes", "spawnlp": "processes",
    "spawnvp": "processes", "execl": "processes", "execlp": "processes", "execle": "processes",
    "execvpe": "processes", "pidfd_open": "processes", "setitimer": "signals",
}
#: names that mean the same danger when they are spelled in a string (getattr, attrgetter...)
SPELLED = {name for name, why in ATTRIBUTES.items() if why and (name.startswith("_") or name.startswith("f_"))} \
    | {"exec", "eval", "compile", "ctypes", "gc", "modules", "__import__", "__builtins__"}
CALLS = {"get_ipython": "IPython internals", "exec": "exec/eval", "eval": "exec/eval",
         "compile": "exec/eval", "__import__": "import machinery", "globals": "the notebook's globals",
         "vars": "the notebook's globals", "locals": "the notebook's globals", "breakpoint": "debugger"}
#: built-ins whose mere name (an alias, an argument) is as risky as a call
NAMES = {"__builtins__": "builtins", "exec": "exec/eval", "eval": "exec/eval", "compile": "exec/eval",
         "__import__": "import machinery", "globals": "the notebook's globals",
         "vars": "the notebook's globals"}
ATTRIBUTE_CALLS = ("getattr", "setattr", "delattr", "hasattr")
MAGIC = re.compile(r"^\s*(!|%%?(?:system|sx|bash|sh|script|run|load|load_ext|writefile|file|env|"
                   r"store|config|capture|debug|pdb|alias)\b)", re.M)
MAX_FINDINGS = 12


def student_cells(submitted, release) -> list[tuple[int, str]]:
    """(index, source) of the code cells a student can change and that nbgrader will run as is."""
    locked = {c.metadata["nbgrader"]["grade_id"] for c in release.cells
              if c.get("metadata", {}).get("nbgrader", {}).get("locked")}
    release_sources = {c.source for c in release.cells if c.cell_type == "code"}
    out = []
    for index, cell in enumerate(submitted.cells):
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.cell_type != "code" or meta.get("grade_id") in locked or cell.source in release_sources:
            continue
        out.append((index, cell.source))
    return out


def scan(cells: list[tuple[int, str]]) -> list[str]:
    """Findings like ``"cell 7: ctypes"``, at most one per cell and reason, in cell order."""
    findings: dict[tuple[int, str], None] = {}
    manager = TransformerManager()
    for index, source in cells:
        for why in _reasons(source, manager):
            findings[(index, why)] = None
    out = [f"cell {index}: {why}" for index, why in findings]
    return out[:MAX_FINDINGS] + ([f"... {len(out) - MAX_FINDINGS} more"] if len(out) > MAX_FINDINGS else [])


def _reasons(source: str, manager: TransformerManager) -> list[str]:
    out = [f"shell command or magic {m.group(1).strip()}" for m in MAGIC.finditer(source)]
    try:
        tree = ast.parse(manager.transform_cell(source))
    except (SyntaxError, ValueError):
        return out
    modules = {}  # local name -> imported module
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                modules[alias.asname or alias.name.partition(".")[0]] = alias.name
                out += _module_reason(alias.name)
        elif isinstance(node, ast.ImportFrom) and node.module:
            out += _module_reason(node.module)
            for alias in node.names:
                if alias.name in ATTRIBUTES and ATTRIBUTES[alias.name]:
                    out.append(ATTRIBUTES[alias.name])
                modules[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    paths = []
    for node in ast.walk(tree):
        out += _node_reasons(node, modules)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                and node.value.startswith("/") and len(node.value) > 1 and " " not in node.value:
            paths.append(node.value[:40])
    if paths:
        out.append("paths " + ", ".join(sorted(set(paths))[:3]) + (" ..." if len(set(paths)) > 3 else ""))
    return list(dict.fromkeys(out))


def _module_reason(name: str) -> list[str]:
    why = MODULES.get(name.partition(".")[0])
    if name.startswith("course.") and name.partition(".")[2].partition(".")[0] in ("tooling",):
        return ["imports the course tooling"]
    return [why] if why else []


def _node_reasons(node: ast.AST, modules: dict[str, str]) -> list[str]:
    out = []
    if isinstance(node, ast.Attribute) and ATTRIBUTES.get(node.attr):
        out.append(ATTRIBUTES[node.attr])
    if isinstance(node, ast.Attribute) and node.attr == "modules" \
            and modules.get(_name(node.value), _name(node.value)) == "sys":
        out.append("sys.modules")
    if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and NAMES.get(node.id):
        out.append(NAMES[node.id])
    text = _spelled(node)
    if text is not None:  # exact words; underscored names anywhere in the text
        hit = text if text in SPELLED else next(
            (n for n in sorted(SPELLED) if n.startswith("_") and n in text), None)
        if hit:
            out.append(f"spells {hit} in a string")
    if isinstance(node, ast.Call):
        name = _name(node.func)
        if CALLS.get(name):
            out.append(CALLS[name])
        if name in ("setattr", "delattr") and node.args and _name(node.args[0]) in modules:
            out.append(f"{name} on module {modules[_name(node.args[0])]}")
        if name in ATTRIBUTE_CALLS and len(node.args) > 1 and _spelled(node.args[1]) is None:
            out.append(f"{name} with a computed name")
    targets = []
    if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
    elif isinstance(node, ast.Delete):
        targets = node.targets
    for target in _flat(targets):
        root = _root(target)
        if isinstance(target, ast.Attribute) and root in modules:
            out.append(f"assigns {modules[root]}{_dotted(target)[len(root):]}")
        elif isinstance(target, ast.Subscript) and isinstance(target.value, ast.Call) \
                and _name(target.value.func) in ("globals", "vars", "locals"):
            out.append("writes the notebook's globals through globals()")
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name in HELPERS:
        out.append(f"defines {node.name} (a test helper's name)")
    if isinstance(node, ast.Assign):
        for target in node.targets:
            if isinstance(target, ast.Name) and target.id in HELPERS:
                out.append(f"assigns {target.id} (a test helper's name)")
    return out


def _spelled(node: ast.AST) -> str | None:
    """The text of a string constant, or of a sum of string constants ("_get" + "frame")."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _spelled(node.left), _spelled(node.right)
        return left + right if left is not None and right is not None else None
    return None


def _flat(targets: list[ast.AST]) -> list[ast.AST]:
    """Assignment targets with tuples and starred names unpacked."""
    out = []
    for target in targets:
        if isinstance(target, (ast.Tuple, ast.List)):
            out += _flat(target.elts)
        elif isinstance(target, ast.Starred):
            out += _flat([target.value])
        else:
            out.append(target)
    return out


def _name(node: ast.AST) -> str:
    return node.id if isinstance(node, ast.Name) else ""


def _root(node: ast.AST) -> str:
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Call)):
        node = node.value if not isinstance(node, ast.Call) else node.func
    return _name(node)


def _dotted(node: ast.AST) -> str:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    return ".".join([_name(node) or "?", *reversed(parts)])
