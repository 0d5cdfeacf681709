"""Runs test functions of one module on the MicroPython interpreter.

Usage: micropython runner.py MODULE [FUNCTION ...]. Prints "PASS name" or
"FAIL name" plus the traceback for each; exits 1 if any failed. micropython-lib's
unittest is not on PyPI in an installable form, so pytest drives this instead
(tests/test_firmware_on_micropython.py), one function per pytest item.
"""
import sys

mod = __import__(sys.argv[1])
names = sys.argv[2:] or sorted(n for n in dir(mod) if n.startswith("test_"))
failed = 0
for name in names:
    try:
        getattr(mod, name)()
        print("PASS", name)
    except Exception as e:
        failed += 1
        print("FAIL", name)
        sys.print_exception(e)
sys.exit(1 if failed else 0)
