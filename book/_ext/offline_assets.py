"""Sphinx extension: the website serves its browser libraries itself, so it works offline.

Without it the built pages load four libraries from CDNs: MathJax (math), mermaid (the
diagrams), require.js and the Jupyter widget manager (the tqdm progress bars saved in the
executed lessons). With it, every build (``make book``, the tests' build, a bare
``jupyter-book build .``) does this:

1. The four npm packages pinned in ``book/_ext/package.json`` are fetched once with
   ``npm pack`` (only these four tarballs: the files the site uses are self-contained
   bundles, so none of the packages' own npm dependencies is needed), checked against the
   sha512 integrity recorded in ``book/_ext/package-lock.json``, and the files the site needs
   are unpacked into ``_build/offline-assets/``. A stamp there makes later builds skip this.
2. Those files are copied into ``_build/html/_static/offline/`` (again once, with a stamp),
   and Sphinx's ``mathjax_path``, sphinxcontrib-mermaid's ``mermaid_use_local`` and
   myst-nb's ``nb_ipywidgets_js`` point at them.

When Node.js/npm is missing or the download fails (no network), the build goes on, says
so in one line, and the pages load the libraries from their CDNs as before. That line is an
info message, not a warning: the strict build (``-W``) must not fail for it.
Set ``offline_assets: false`` under ``sphinx: config:`` in ``_config.yml`` to use the CDNs.

Updating a library: change its version in package.json, run
``npm install --package-lock-only --ignore-scripts`` in book/_ext, rebuild.
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

from sphinx.util import logging

logger = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
LOCK = HERE / "package-lock.json"
STATIC_SUBDIR = "offline"  # _build/html/_static/offline/<package folder>/...
CACHE_DIRNAME = "offline-assets"  # _build/offline-assets/, next to _build/html
STAMP = ".stamp.json"
NPM_TIMEOUT_S = 600

# npm package -> (folder name on the site, files to keep: patterns on the path inside the
# package; "dir/**" = everything below dir, "*" does not cross a "/"). Source maps, type
# declarations and bundles the site does not load are left out.
PACKAGES: dict[str, tuple[str, list[str]]] = {
    "mathjax": (
        "mathjax",
        [
            "LICENSE",
            "package.json",
            "es5/tex-mml-chtml.js",  # the combined component Sphinx loads
            "es5/input/**",  # TeX extensions MathJax autoloads (\require, \cancel, ...)
            "es5/output/chtml.js",
            "es5/output/chtml/**",  # the CommonHTML fonts (woff-v2)
            "es5/a11y/**",  # accessibility options of MathJax's right-click menu
            "es5/sre/**",  # the speech rule engine those options load
            "es5/ui/**",
            "es5/adaptors/**",
        ],
    ),
    "mermaid": (
        "mermaid",
        [
            "LICENSE",
            "package.json",
            "dist/mermaid.esm.min.mjs",  # the ES module sphinxcontrib-mermaid imports
            "dist/chunks/mermaid.esm.min/*.mjs",  # the chunks it imports in turn
        ],
    ),
    "requirejs": ("requirejs", ["package.json", "require.js"]),
    "@jupyter-widgets/html-manager": (
        "html-manager",
        [
            "LICENSE",
            "package.json",
            "dist/embed-amd.js",
            # the Font Awesome files the bundle's CSS refers to
            "dist/*.woff2",
            "dist/*.woff",
            "dist/*.ttf",
            "dist/*.eot",
            "dist/*.svg",
        ],
    ),
}

# What the pages load, relative to the offline folder.
MATHJAX_JS = "mathjax/es5/tex-mml-chtml.js"
MERMAID_JS = "mermaid/dist/mermaid.esm.min.mjs"
REQUIRE_JS = "requirejs/require.js"
WIDGETS_JS = "html-manager/dist/embed-amd.js"
REQUIRE_CONFIG_JS = "require-config.js"
ENTRY_POINTS = (MATHJAX_JS, MERMAID_JS, REQUIRE_JS, WIDGETS_JS, REQUIRE_CONFIG_JS)

# Loaded between require.js and the widget manager. The manager's bundle defines four AMD
# modules and each looks for its Font Awesome files next to its own module URL, which
# require.js would otherwise place under the page's folder (404s). Point each module name
# at the copy under _static/offline, where the font files are.
REQUIRE_CONFIG = """\
// Written by book/_ext/offline_assets.py: the widget manager's files are in html-manager/dist.
(function () {
  var dist = new URL("html-manager/dist", document.currentScript.src).href;
  require.config({
    paths: {
      "@jupyter-widgets/base": dist + "/base",
      "@jupyter-widgets/controls": dist + "/controls",
      "@jupyter-widgets/html-manager": dist + "/html-manager",
      "@jupyter-widgets/html-manager/dist": dist,
    },
  });
})();
"""


class AssetError(RuntimeError):
    """The assets could not be installed; the site falls back to the CDNs."""


def _pins() -> dict:
    """What the stamps record: each package's version and integrity, from the committed lock
    file, and a digest of the file this extension writes itself."""
    lock = json.loads(LOCK.read_text())
    declared = json.loads((HERE / "package.json").read_text())["dependencies"]
    packages = {}
    for name in PACKAGES:
        entry = lock["packages"][f"node_modules/{name}"]
        if entry["version"] != declared[name]:
            raise AssetError(
                f"book/_ext/package-lock.json pins {name} {entry['version']} but "
                f"package.json asks for {declared[name]} (run `npm install --package-lock-only "
                "--ignore-scripts` in book/_ext)"
            )
        packages[name] = {"version": entry["version"], "integrity": entry["integrity"]}
    digest = hashlib.sha256(REQUIRE_CONFIG.encode()).hexdigest()
    return {"packages": packages, REQUIRE_CONFIG_JS: digest}


def _stamp_ok(folder: Path, pins: dict) -> bool:
    stamp = folder / STAMP
    try:
        recorded = json.loads(stamp.read_text())
    except (OSError, ValueError):
        return False
    return recorded == pins and all((folder / p).is_file() for p in ENTRY_POINTS)


def _sri_ok(tarball: Path, integrity: str) -> bool:
    algo, _, expected = integrity.partition("-")
    digest = hashlib.new(algo, tarball.read_bytes()).digest()
    return base64.b64encode(digest).decode() == expected


def _keep(path: str, patterns: list[str]) -> bool:
    for pattern in patterns:
        if pattern.endswith("/**"):
            if path.startswith(pattern[:-2]):
                return True
        elif fnmatch.fnmatchcase(path, pattern):
            fixed = pattern.split("*")[0]
            if "/" not in path[len(fixed) :]:
                return True
    return False


def _unpack(tarball: Path, patterns: list[str], dest: Path) -> int:
    """Unpack the kept files of an npm tarball (whose members start with package/)."""
    with tarfile.open(tarball) as tar:
        members = []
        for member in tar.getmembers():
            _, _, inner = member.name.partition("/")
            if member.isfile() and inner and _keep(inner, patterns):
                member.name = inner
                members.append(member)
        tar.extractall(dest, members=members, filter="data")
    return len(members)


def _npm_error(proc: subprocess.CompletedProcess) -> str:
    """npm's one-line summary of what went wrong (with --json it is on stdout)."""
    try:
        return str(json.loads(proc.stdout)["error"]["summary"])
    except (ValueError, KeyError, TypeError):
        lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("npm error")]
        lines = [ln for ln in lines if not ln.split(maxsplit=2)[-1].startswith("at ")]
        return lines[-1] if lines else f"exit status {proc.returncode}"


def _install(cache: Path, pins: dict) -> None:
    """Fetch the pinned tarballs with npm and unpack what the site needs into `cache`."""
    npm = shutil.which("npm")
    if npm is None:
        raise AssetError("Node.js/npm is not installed")
    packages = pins["packages"]
    specs = [f"{name}@{pin['version']}" for name, pin in packages.items()]
    logger.info("offline_assets: fetching %s with npm pack", ", ".join(specs), color="bold")
    with tempfile.TemporaryDirectory(prefix="npm-pack-") as tmp:
        cmd = [npm, "pack", *specs, "--json", "--pack-destination", tmp, "--prefer-offline"]
        cmd += ["--fetch-retries=1", "--fetch-retry-maxtimeout=10000", "--no-audit", "--no-fund"]
        try:
            proc = subprocess.run(
                cmd, cwd=tmp, capture_output=True, text=True, timeout=NPM_TIMEOUT_S, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise AssetError(f"npm pack took more than {NPM_TIMEOUT_S} s") from exc
        if proc.returncode != 0:
            raise AssetError(f"npm pack failed ({_npm_error(proc)})")
        packed = {item["name"]: Path(tmp) / item["filename"] for item in json.loads(proc.stdout)}
        staging = cache.with_name(cache.name + ".partial")
        shutil.rmtree(staging, ignore_errors=True)
        for name, pin in packages.items():
            tarball = packed.get(name)
            if tarball is None or not tarball.is_file():
                raise AssetError(f"npm pack did not produce {name}")
            if not _sri_ok(tarball, pin["integrity"]):
                raise AssetError(f"{tarball.name} does not match its integrity in package-lock")
            folder, patterns = PACKAGES[name]
            if _unpack(tarball, patterns, staging / folder) == 0:
                raise AssetError(f"{tarball.name} has none of the expected files")
    (staging / REQUIRE_CONFIG_JS).write_text(REQUIRE_CONFIG)
    (staging / STAMP).write_text(json.dumps(pins, indent=1, sort_keys=True))
    shutil.rmtree(cache, ignore_errors=True)
    os.replace(staging, cache)


def _size_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 1e6


def _config_inited(app, config) -> None:
    """Install the assets if needed and point the three extensions at them."""
    app.offline_assets_dir = None
    if not config.offline_assets:
        logger.info("offline_assets: off in _config.yml; the site loads MathJax etc. from CDNs")
        return
    cache = Path(app.outdir).parent / CACHE_DIRNAME
    try:
        pins = _pins()
        if not _stamp_ok(cache, pins):
            _install(cache, pins)
            logger.info(
                "offline_assets: installed %.1f MB of browser assets in %s", _size_mb(cache), cache
            )
    except (AssetError, OSError, ValueError, KeyError, tarfile.TarError) as exc:
        logger.info(
            "offline_assets: %s; MathJax, mermaid and the widget manager will load from their "
            "CDNs, so the site needs internet access (install Node.js and rebuild to serve them "
            "from the site).",
            exc,
            color="red",
        )
        return
    app.offline_assets_dir = cache
    # Relative paths: Sphinx, sphinxcontrib-mermaid and myst-nb resolve them against the
    # page's _static folder.
    config.mathjax_path = f"{STATIC_SUBDIR}/{MATHJAX_JS}"
    config.mermaid_use_local = f"{STATIC_SUBDIR}/{MERMAID_JS}"
    # myst-nb adds these, in this order, to the pages that hold widget outputs.
    config.nb_ipywidgets_js = {
        f"{STATIC_SUBDIR}/{path}": {} for path in (REQUIRE_JS, REQUIRE_CONFIG_JS, WIDGETS_JS)
    }


def _builder_inited(app) -> None:
    """Copy the assets into the html output's _static folder unless they are already there."""
    cache = getattr(app, "offline_assets_dir", None)
    if cache is None or app.builder.format != "html":
        return
    target = Path(app.outdir) / "_static" / STATIC_SUBDIR
    pins = json.loads((cache / STAMP).read_text())
    if _stamp_ok(target, pins):
        return
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(cache, target, ignore=shutil.ignore_patterns(STAMP))
    shutil.copyfile(cache / STAMP, target / STAMP)  # last: marks a complete copy
    logger.info("offline_assets: copied %.1f MB into %s", _size_mb(target), target)


def _drop_duplicate_scripts(app, pagename, templatename, context, doctree) -> None:
    """Keep one copy of each script on a page.

    Sphinx 7.4 lists an inline script that an extension adds after the builder started
    twice (once with filename None, once with ""). sphinx-thebe adds one on every build that
    reads a page (``const THEBE_JS_URL = ...``), so without this every page declares the
    constant twice and the browser reports "Identifier 'THEBE_JS_URL' has already been
    declared".
    """
    scripts = context.get("script_files")
    if not isinstance(scripts, list):
        return
    seen, unique = set(), []
    for script in scripts:
        attributes = getattr(script, "attributes", {}) or {}
        key = (
            getattr(script, "filename", str(script)) or "",
            getattr(script, "priority", 500),
            tuple(sorted((k, str(v)) for k, v in attributes.items())),
        )
        if key not in seen:
            seen.add(key)
            unique.append(script)
    scripts[:] = unique


def setup(app):
    app.add_config_value("offline_assets", True, "html", [bool])
    # config-inited runs after every extension registered its config values.
    app.connect("config-inited", _config_inited, priority=900)
    app.connect("builder-inited", _builder_inited)
    # after the handlers that add page scripts (myst-nb, sphinxcontrib-mermaid, mathjax)
    app.connect("html-page-context", _drop_duplicate_scripts, priority=900)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
