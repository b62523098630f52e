#!/usr/bin/python3
"""Checks of the editor's translations (meson tests, no display).

Default: po/POTFILES.in names every file under app/, ui/ and data/ that has translatable strings (C with _(),
N_(), C_(), NC_() or ngettext; .ui with translatable="yes"; the desktop file, the metainfo, GSettings schemas,
shared-mime-info packages), and names no file that is missing.

--translations: extracts the messages of the current sources as `meson compile imagebart-studio-pot` does
(xgettext, preset glib), merges them into each language of po/LINGUAS and fails on any untranslated or fuzzy
message, and on any error `msgfmt --check` finds (format strings, headers).
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

SCANNED = ('app', 'ui', 'data')
C_KEYWORDS = re.compile(r'(?<![\w])(?:_|N_|C_|NC_|ngettext|g_dngettext|g_dpgettext2)\s*\(')
C_COMMENT = re.compile(r'/\*.*?\*/|//[^\n]*', re.S)
UI_TRANSLATABLE = re.compile(r'translatable\s*=\s*"(?:yes|true|1)"')
SCHEMA_TEXT = re.compile(r'<(?:summary|description)>')
MIME_TEXT = re.compile(r'<mime-info\b[\s\S]*<comment>')

# The keywords of meson's i18n.gettext(preset: 'glib').
XGETTEXT_ARGS = [
    '--from-code=UTF-8', '--add-comments',
    '--keyword=_', '--keyword=N_', '--keyword=C_:1c,2', '--keyword=NC_:1c,2',
    '--keyword=g_dcgettext:2', '--keyword=g_dngettext:2,3', '--keyword=g_dpgettext2:2c,3',
    '--flag=N_:1:pass-c-format', '--flag=C_:2:pass-c-format', '--flag=NC_:2:pass-c-format',
    '--flag=g_dngettext:2:pass-c-format', '--flag=g_strdup_printf:1:c-format',
    '--flag=g_string_printf:2:c-format', '--flag=g_string_append_printf:2:c-format',
    '--flag=g_error_new:3:c-format', '--flag=g_set_error:4:c-format',
    '--flag=g_markup_printf_escaped:1:c-format', '--flag=g_printf:1:c-format',
]


CANDIDATES = ('.c', '.h', '.ui', '.desktop', '.desktop.in', '.xml', '.xml.in')


def has_translatable_strings(path):
    name = os.path.basename(path)
    if not name.endswith(CANDIDATES):
        return False  # models, pictures, build files
    try:
        with open(path, encoding='utf-8') as f:
            text = f.read()
    except (UnicodeDecodeError, OSError):
        return False
    if name.endswith(('.c', '.h')):
        return bool(C_KEYWORDS.search(C_COMMENT.sub('', text)))
    if name.endswith('.ui'):
        return bool(UI_TRANSLATABLE.search(text))
    if name.endswith(('.desktop', '.desktop.in')):
        return True
    if name.endswith(('.metainfo.xml', '.metainfo.xml.in', '.appdata.xml', '.appdata.xml.in')):
        return True
    if name.endswith('.gschema.xml'):
        return bool(SCHEMA_TEXT.search(text))
    if name.endswith('.xml'):
        return bool(MIME_TEXT.search(text))
    return False


# _("... %" G_GINT64_FORMAT "..."): xgettext cuts the message at the macro, so it is never translated
# (the <inttypes.h> PRI* macros are the exception gettext knows).
MACRO_IN_MESSAGE = re.compile(r'(?<![\w])(?:_|N_)\s*\(\s*"(?:[^"\\]|\\.)*"\s*(?!PRI[diouxX])[A-Z][A-Z0-9_]*\b')


def macro_warnings(root, listed):
    for path in listed:
        if path.endswith('.c') and os.path.isfile(os.path.join(root, path)):
            text = open(os.path.join(root, path), encoding='utf-8').read()
            for m in MACRO_IN_MESSAGE.finditer(text):
                line = text.count('\n', 0, m.start()) + 1
                print('warning: %s:%d: a macro inside a translatable message (%s): xgettext cuts the message '
                      'there and it stays untranslated; use "%%" PRId64 (xgettext knows <inttypes.h>) or cast and use %%lld'
                      % (path, line, m.group(0).split()[-1]))


def read_potfiles(root):
    with open(os.path.join(root, 'po', 'POTFILES.in'), encoding='utf-8') as f:
        return [line.strip() for line in f if line.strip() and not line.lstrip().startswith('#')]


def files_under(root, folder):
    # In a git checkout only what is committed or staged counts: others' unfinished files are not the list's.
    try:
        out = subprocess.run(['git', '-C', root, 'ls-files', '-z', '--', folder], capture_output=True,
                             check=True).stdout.decode()
        if out:
            yield from (p for p in out.split('\0') if p and os.path.isfile(os.path.join(root, p)))
            return
    except (OSError, subprocess.CalledProcessError):
        pass
    for dirpath, dirnames, filenames in os.walk(os.path.join(root, folder)):
        dirnames[:] = [d for d in dirnames if not d.startswith('.')]
        for name in filenames:
            yield os.path.relpath(os.path.join(dirpath, name), root)


def check_potfiles(root):
    listed = read_potfiles(root)
    problems = []
    seen = set()
    for path in listed:
        if path in seen:
            problems.append('po/POTFILES.in names %s twice' % path)
        seen.add(path)
        if not os.path.isfile(os.path.join(root, path)):
            problems.append('po/POTFILES.in names %s, which does not exist: remove the line' % path)
    for folder in SCANNED:
        for path in sorted(files_under(root, folder)):
            if path not in seen and has_translatable_strings(os.path.join(root, path)):
                problems.append('%s has translatable strings but is missing from po/POTFILES.in: add it' % path)
    macro_warnings(root, listed)
    for p in problems:
        print('not ok:', p)
    print('%d files listed, %d problems' % (len(listed), len(problems)))
    return 1 if problems else 0


STATS = re.compile(r'(\d+) translated messages?(?:, (\d+) fuzzy translations?)?(?:, (\d+) untranslated messages?)?')


def check_translations(root):
    for tool in ('xgettext', 'msgmerge', 'msgfmt'):
        if shutil.which(tool) is None:
            print('# SKIP: %s is not installed' % tool)
            return 77
    with open(os.path.join(root, 'po', 'LINGUAS'), encoding='utf-8') as f:
        languages = [w for line in f if not line.startswith('#') for w in line.split()]
    failed = False
    with tempfile.TemporaryDirectory(prefix='ib-po-') as tmp:
        pot = os.path.join(tmp, 'imagebart-studio.pot')
        subprocess.run(['xgettext', '--package-name=imagebart-studio', '-D', root,
                        '--files-from=' + os.path.join(root, 'po', 'POTFILES.in'), '-o', pot]
                       + XGETTEXT_ARGS, check=True)
        for lang in languages:
            po = os.path.join(root, 'po', lang + '.po')
            if not os.path.isfile(po):
                print('not ok: po/%s.po is missing (po/LINGUAS names %s)' % (lang, lang))
                failed = True
                continue
            check = subprocess.run(['msgfmt', '--check', '-o', os.devnull, po],
                                   capture_output=True, text=True)
            if check.returncode != 0:
                print('not ok: msgfmt --check po/%s.po:\n%s' % (lang, check.stderr))
                failed = True
                continue
            merged = os.path.join(tmp, lang + '.po')
            subprocess.run(['msgmerge', '--quiet', '--no-fuzzy-matching', '-o', merged, po, pot], check=True)
            stats = subprocess.run(['msgfmt', '--check', '--statistics', '-o', os.devnull, merged],
                                   capture_output=True, text=True, env=dict(os.environ, LC_ALL='C'))
            m = STATS.search(stats.stderr)
            translated = int(m.group(1)) if m else 0
            fuzzy = int(m.group(2) or 0) if m else 0
            untranslated = int(m.group(3) or 0) if m else 0
            print('%s: %d translated, %d fuzzy, %d untranslated' % (lang, translated, fuzzy, untranslated))
            if stats.returncode != 0 or m is None or fuzzy or untranslated or translated == 0:
                failed = True
                listing = ''
                for which in ('--untranslated', '--only-fuzzy'):
                    listing += subprocess.run(['msgattrib', which, '--no-wrap', merged],
                                              capture_output=True, text=True).stdout
                print('not ok: po/%s.po is incomplete (run `meson compile imagebart-studio-update-po`, then '
                      'translate):\n%s%s' % (lang, stats.stderr, listing[:6000]))
    return 1 if failed else 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--source-root', required=True)
    parser.add_argument('--translations', action='store_true')
    args = parser.parse_args()
    if args.translations:
        return check_translations(args.source_root)
    return check_potfiles(args.source_root)


if __name__ == '__main__':
    sys.exit(main())
