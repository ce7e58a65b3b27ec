"""Runs inside a student's kernel: the grader sends this file's text before the first cell.

``install(token, modules)`` imports the lesson's ``course`` modules, NumPy and matplotlib's
notebook backend, then snapshots everything a test cell relies on: the modules of ``course``
and NumPy entry by entry; the callables of IPython, ipykernel, jupyter_client, pyzmq,
traitlets and matplotlib; the code, defaults and closures of all their functions; the shell's
input and AST transformers, events, custom exception handler and traceback printers;
``builtins``; ``sys``'s import machinery and hooks. ``restore()`` (run before and after each
test cell) puts all of it back, empties ``course.checks``' set of disabled twins, and answers
with the token and the list of what it had to put back.

Student code shares this process, so nothing here is out of its reach: a restore that does
not answer, or answers without the token, counts as tampering; what was put back *after* a
test fails that test; and the grader's static scan flags code that reaches for these internals.
This file imports nothing from the grader: only the standard library and IPython.
"""
import builtins
import gc
import importlib
import sys
import threading
import types

import IPython

FULL = ("course", "numpy")  # every entry of these packages' modules is put back
HOOKED = ("IPython", "ipykernel", "jupyter_client", "zmq", "traitlets", "comm", "matplotlib",
          "matplotlib_inline")
TRAPPED = {"get_ipython", "exit", "quit"}  # IPython adds and removes these around each cell
SHELL_LISTS = ("ast_transformers", "input_transformers_post")
# traits holding the machinery's parts (e.g. the shell's input_transformer_manager, loop_runner,
# the kernel's session): their values are put back by identity, except those that change by design
PART_TRAITS = ("Instance", "Any", "Type", "Callable", "ForwardDeclaredInstance", "Union")
VOLATILE_TRAITS = {"last_execution_result", "parent", "config", "log", "_sys_raw_input",
                   "_sys_eval_input"}
# course.checks' set of twins that raise: rebound (never mutated) by checking(), empty between tests
DISABLED_TWINS = ("course.checks", "_disabled")
MANAGER_LISTS = ("cleanup_transforms", "line_transforms", "token_transformers")
_EMPTY = object()


def _top(name):
    return name.partition(".")[0]


def _codelike(value):
    return callable(value) or isinstance(value, (staticmethod, classmethod, property))


def _functions(value):
    """The plain Python functions inside a namespace entry (unwrapping descriptors)."""
    if isinstance(value, (staticmethod, classmethod)):
        value = value.__func__
    if isinstance(value, property):
        return [f for f in (value.fget, value.fset, value.fdel) if isinstance(f, types.FunctionType)]
    return [value] if isinstance(value, types.FunctionType) else []


def _parts(obj):
    """Names of ``obj``'s traits that hold parts of the machinery (see PART_TRAITS)."""
    return {name for name, trait in obj.traits().items()
            if type(trait).__name__ in PART_TRAITS and name not in VOLATILE_TRAITS}


def _cells(func):
    out = []
    for cell in func.__closure__ or ():
        try:
            out.append(cell.cell_contents)
        except ValueError:
            out.append(_EMPTY)
    return tuple(out)


def _import_library(modules):
    import numpy  # noqa: F401
    import numpy.testing  # noqa: F401
    import course.checks  # noqa: F401
    try:  # pyplot adds an IPython event on first use: let it happen now
        import matplotlib.pyplot
        import matplotlib_inline.backend_inline  # noqa: F401  (what `%matplotlib inline` adds)
        matplotlib.pyplot.install_repl_displayhook()
    except ImportError:
        pass
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError:  # `from course import x` where x is not a module
            pass


class Guard:
    def __init__(self, token, modules):
        _import_library(modules)
        self.token = token
        self.shell = IPython.get_ipython()
        self.modules, self.classes, self.functions, self._seen = {}, [], [], set()
        for name, mod in list(sys.modules.items()):
            if isinstance(mod, types.ModuleType) and _top(name) in FULL + HOOKED:
                self._protect(name, mod)
        self.builtins = dict(vars(builtins))
        self.sys = {k: list(getattr(sys, k)) for k in ("meta_path", "path_hooks", "path")}
        self.importer_cache = dict(sys.path_importer_cache)
        self.excepthook = sys.excepthook
        self.gc_callbacks = list(gc.callbacks)
        self.instances = [(label, obj, dict(vars(obj))) for label, obj in self._instances()]
        self.traits = [(label, obj, dict(obj._trait_values), _parts(obj))
                       for label, obj in self._instances() if hasattr(obj, "_trait_values")]
        self.lists = {label: list(get()) for label, get, _ in self._lists()}
        self.events = {k: list(v) for k, v in self.shell.events.callbacks.items()}
        self.user_builtins = self.shell.user_ns.get("__builtins__")

    def _protect(self, name, mod):
        """Snapshot a module: its entries, the classes it defines, all their functions."""
        entries = dict(vars(mod))
        self.modules[name] = (mod, entries)
        for value in entries.values():
            if isinstance(value, type) and getattr(value, "__module__", None) == name \
                    and id(value) not in self._seen:
                self._seen.add(id(value))
                self.classes.append((value, dict(vars(value))))
                for entry in list(vars(value).values()):
                    self._add_functions(entry)
            self._add_functions(value)

    def _add_functions(self, value):
        for func in _functions(value):
            if id(func) not in self._seen:
                self._seen.add(id(func))
                self.functions.append((func, func.__code__, func.__defaults__,
                                       func.__kwdefaults__, _cells(func)))

    def _instances(self):
        shell = self.shell
        kernel = getattr(shell, "kernel", None)
        found = [("shell", shell), ("kernel", kernel), ("session", getattr(kernel, "session", None)),
                 ("display publisher", shell.display_pub), ("display hook", shell.displayhook),
                 ("compiler", shell.compile), ("events", shell.events),
                 ("input transformer manager", shell.input_transformer_manager),
                 ("traceback printer", shell.InteractiveTB), ("syntax error printer", shell.SyntaxTB)]
        return [(label, obj) for label, obj in found if obj is not None and hasattr(obj, "__dict__")]

    def _lists(self):
        shell, manager = self.shell, self.shell.input_transformer_manager
        out = [(f"IPython {name}", (lambda n=name: getattr(shell, n)),
                (lambda v, n=name: setattr(shell, n, v))) for name in SHELL_LISTS]
        out += [(f"IPython input transformers ({name})", (lambda n=name: getattr(manager, n)),
                 (lambda v, n=name: setattr(manager, n, v))) for name in MANAGER_LISTS]
        return out

    def restore(self):
        """Put everything back; ``token|what;was;put;back`` (empty after the bar if nothing)."""
        done = []
        self._restore_hooks(done)
        self._restore_modules(done)
        self._restore_classes(done)
        self._restore_functions(done)
        self._restore_shell(done)
        return self.token + "|" + ";".join(dict.fromkeys(done))

    def _restore_hooks(self, done):
        if sys.gettrace() is not None or sys.getprofile() is not None:
            done.append("trace or profile function")
            sys.settrace(None)
            sys.setprofile(None)
        for getter, setter in (("gettrace", "settrace"), ("getprofile", "setprofile")):
            if getattr(threading, getter, lambda: None)() is not None:
                done.append(f"threading.{setter}")
                getattr(threading, setter)(None)
        for name, saved in self.sys.items():
            current = getattr(sys, name)
            if not isinstance(current, list) or current != saved or any(a is not b for a, b in zip(current, saved)):
                done.append(f"sys.{name}")
                setattr(sys, name, list(saved))
        for key, value in list(sys.path_importer_cache.items()):
            if self.importer_cache.get(key, _EMPTY) is not value:
                if key in self.importer_cache:
                    done.append("sys.path_importer_cache")
                del sys.path_importer_cache[key]
        sys.path_importer_cache.update(self.importer_cache)
        if sys.excepthook is not self.excepthook:
            done.append("sys.excepthook")
            sys.excepthook = self.excepthook
        if gc.callbacks != self.gc_callbacks:
            done.append("gc.callbacks")
            gc.callbacks[:] = self.gc_callbacks
        current = vars(builtins)
        for key, value in self.builtins.items():
            if current.get(key, _EMPTY) is not value:
                done.append(f"builtins.{key}")
                current[key] = value
        for key in [k for k in current if k not in self.builtins and k not in TRAPPED
                    and not k.startswith("_")]:
            done.append(f"builtins.{key}")
            del current[key]

    def _restore_modules(self, done):
        for name in [n for n in list(sys.modules) if n not in self.modules and _top(n) in FULL]:
            mod = sys.modules[name]
            if not isinstance(mod, types.ModuleType) or getattr(mod, "__name__", None) != name:
                done.append(f"sys.modules[{name!r}]")
                del sys.modules[name]
            else:  # imported since (a lazy NumPy submodule, a library module the lesson does
                # not use): protected from now on; test cells only rely on modules imported above
                self._protect(name, mod)
        for name, (mod, saved) in self.modules.items():
            if sys.modules.get(name) is not mod:
                done.append(f"sys.modules[{name!r}]")
                sys.modules[name] = mod
            current = vars(mod)
            full = _top(name) in FULL
            for key, value in saved.items():
                if (name, key) == DISABLED_TWINS:  # rebound by every checking(): kept by value
                    if current.get(key) != frozenset() or type(current.get(key)) is not frozenset:
                        done.append("course.checks twins disabled outside checking()")
                        current[key] = frozenset()
                elif current.get(key, _EMPTY) is not value and (full or _codelike(value)):
                    done.append(f"{name}.{key}")
                    current[key] = value
            if full:
                for key in [k for k in current if k not in saved]:
                    value = current[key]
                    if not (isinstance(value, types.ModuleType) and value.__name__ == f"{name}.{key}"
                            and sys.modules.get(value.__name__) is value):
                        done.append(f"{name}.{key}")
                        del current[key]

    def _restore_classes(self, done):
        for cls, saved in self.classes:
            current = vars(cls)
            for key, value in saved.items():
                if current.get(key, _EMPTY) is not value and _codelike(value):
                    done.append(f"{cls.__module__}.{cls.__qualname__}.{key}")
                    setattr(cls, key, value)
            for key in [k for k, v in current.items() if k not in saved and _codelike(v)]:
                done.append(f"{cls.__module__}.{cls.__qualname__}.{key}")
                delattr(cls, key)

    def _restore_functions(self, done):
        for func, code, defaults, kwdefaults, cells in self.functions:
            changed = func.__code__ is not code or func.__defaults__ is not defaults \
                or func.__kwdefaults__ is not kwdefaults
            if changed:
                func.__code__, func.__defaults__, func.__kwdefaults__ = code, defaults, kwdefaults
            for cell, value in zip(func.__closure__ or (), cells):
                try:
                    same = cell.cell_contents is value
                except ValueError:
                    same = value is _EMPTY
                if not same:
                    changed = True
                    if value is _EMPTY:
                        del cell.cell_contents
                    else:
                        cell.cell_contents = value
            if changed:
                done.append(f"code of {func.__module__}.{func.__qualname__}")

    def _genuine(self, callback):
        """A library function (or a method of one) as it was at install, e.g. what
        ``%matplotlib inline`` registers: a callback that may come and go."""
        return id(getattr(callback, "__func__", callback)) in self._seen

    def _restore_shell(self, done):
        shell = self.shell
        for label, obj, saved in self.instances:
            current = vars(obj)
            for key in set(saved) | set(current):
                old, new = saved.get(key, _EMPTY), current.get(key, _EMPTY)
                if old is not new and (key == "custom_exceptions" or _codelike(old) or _codelike(new)):
                    done.append(f"{label}.{key}")
                    if old is _EMPTY:
                        del current[key]
                    else:
                        current[key] = old
        for label, obj, saved, parts in self.traits:
            current = obj._trait_values
            for key, old in saved.items():
                new = current.get(key, _EMPTY)
                if new is not old and (key in parts or _codelike(old) or _codelike(new)):
                    done.append(f"{label}.{key}")
                    current[key] = old
        for label, get, put in self._lists():
            saved = self.lists[label]
            current = get()
            if len(current) != len(saved) or any(a is not b for a, b in zip(current, saved)):
                done.append(label)
                put(list(saved))
        callbacks = shell.events.callbacks
        for event, saved in self.events.items():
            current = callbacks.get(event, [])
            kept = [cb for cb in current if any(cb is s for s in saved) or self._genuine(cb)]
            kept += [cb for cb in saved if not any(cb is k for k in kept)]
            if len(kept) != len(current) or any(a is not b for a, b in zip(kept, current)):
                done.append(f"IPython {event} events")
                callbacks[event] = kept
        if shell.user_ns.get("__builtins__") is not self.user_builtins:
            done.append("the notebook's __builtins__")
            shell.user_ns["__builtins__"] = self.user_builtins


def install(token, modules):
    """Snapshot now (before any student code) under a module name only the grader knows."""
    module = types.ModuleType(f"_autograder_{token}")
    module.guard = Guard(token, modules)
    sys.modules[module.__name__] = module
    return token + "|installed"
