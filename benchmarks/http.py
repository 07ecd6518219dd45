"""``python benchmarks/http.py``: the authenticated reads beside ``GET /health`` (the code
is in ``http_reads.py``; see its doc).

Every script in this folder has the folder first on ``sys.path``, so this file is what
``import http`` finds there. Imported under that name it stands in for the standard
library's ``http`` package (its ``__init__`` and, through ``__path__``, its submodules), so
that httpx, websockets and the other benchmarks here keep working.
"""

import os
import sysconfig

if __name__ == "http":
    __path__ = [os.path.join(sysconfig.get_path("stdlib"), "http")]
    with open(os.path.join(__path__[0], "__init__.py"), encoding="utf-8") as source:
        exec(compile(source.read(), source.name, "exec"))
elif __name__ == "__main__":
    import runpy

    here = os.path.dirname(os.path.abspath(__file__))
    runpy.run_path(os.path.join(here, "http_reads.py"), run_name="__main__")
