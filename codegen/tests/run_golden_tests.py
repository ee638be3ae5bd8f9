#!/usr/bin/env python3
"""Golden-file tests of protoc-gen-polyrpc.

Runs protoc with the plugin for every generator on the protos in codegen/tests/protos and compares
the output, file by file, with codegen/tests/golden/<lang>/. Also checks that bad input fails
through protoc's error channel with a clear message.

    run_golden_tests.py --plugin build/codegen/protoc-gen-polyrpc [--protoc protoc]
    run_golden_tests.py --plugin ... --update     # rewrite the golden files after a deliberate change

Exit status 0 when everything matches, 1 otherwise (with a unified diff of each difference).
"""

import argparse
import difflib
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
PROTO_ROOT = os.path.join(HERE, "protos")
GOLDEN_ROOT = os.path.join(HERE, "golden")
GOOD_PROTOS = [
    "cgtest/common/types.proto",
    "cgtest/routes/route_guide.proto",
    "keywords.proto",
    "reserved_package.proto",
]
# lang -> the --polyrpc_out parameter. C++ uses no parameter: it is the default generator.
LANGS = {"cpp": "", "python": "lang=python", "c": "lang=c"}
LANGS["php"] = "lang=php"
LANGS["csharp"] = "lang=csharp"
LANGS["ruby"] = "lang=ruby"
# (proto, parameter, text that must appear in protoc's error output)
BAD_INPUTS = [
    ("bad/collision.proto", "lang=python",
     "methods 'import' and 'import_' both map to the Python name 'import_'"),
    ("bad/async_collision.proto", "lang=cpp",
     "methods 'Get' and 'GetAsync' both map to the C++ name 'GetAsync'"),
    ("bad/c_collision.proto", "lang=c",
     "method 'polyrpc.test.bad.Store.GetHTTP' and method 'polyrpc.test.bad.Store.GetHttp' both map "
     "to the C name 'polyrpc__test__bad__store_client__get_http'"),
    ("bad/c_prefix.proto", "lang=c",
     "the C prefix polyrpc__test__bad__store_client generated for service polyrpc.test.bad.Store "
     "is protobuf-c's name of message polyrpc.test.bad.StoreClient"),
    ("keywords.proto", "lang=cobol", "unknown lang=cobol (available: cpp, python, c"),
    ("bad/php_case.proto", "lang=php",
     "methods 'Get' and 'get' both map to the PHP method get (PHP method names are case-insensitive)"),
    ("bad/php_class.proto", "lang=php",
     "the PHP class Polyrpc\\Test\\Bad\\StoreClient generated for service polyrpc.test.bad.Store clashes "
     "with message polyrpc.test.bad.StoreClient"),
    ("keywords.proto", "lang=python,frobnicate=1", "unknown parameter 'frobnicate' for lang=python"),
    ("bad/async_collision.proto", "lang=csharp",
     "methods 'Get' and 'GetAsync' both map to the C# client method GetAsync"),
    ("bad/csharp_member.proto", "lang=csharp",
     "method 'StoreClient' would have the name of the C# class that holds it"),
    ("keywords.proto", "lang=csharp,marshaller_factory=", "marshaller_factory needs a type name"),
    ("bad/ruby_module.proto", "lang=ruby",
     "the Ruby module Polyrpc::Test::Bad::Store generated for service polyrpc.test.bad.Store is "
     "protoc's Ruby constant of message polyrpc.test.bad.store"),
    ("bad/ruby_method.proto", "lang=ruby",
     "method 'Hash' would define the Ruby method hash, which every Ruby object (or stub) needs"),
    ("bad/c_collision.proto", "lang=ruby",
     "methods 'GetHTTP' and 'GetHttp' both map to the Ruby method get_http"),
]


def run_protoc(args, protos, parameter, out_dir):
    out_flag = "--polyrpc_out=" + (parameter + ":" if parameter else "") + out_dir
    cmd = [args.protoc, "-I" + PROTO_ROOT]
    if args.protobuf_include:
        cmd.append("-I" + args.protobuf_include)
    cmd += ["--plugin=protoc-gen-polyrpc=" + os.path.abspath(args.plugin), out_flag] + protos
    return subprocess.run(cmd, cwd=PROTO_ROOT, capture_output=True, text=True, timeout=60)


def list_files(root):
    found = set()
    for dirpath, _, names in os.walk(root):
        for name in names:
            found.add(os.path.relpath(os.path.join(dirpath, name), root))
    return found


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def check_lang(args, lang, parameter):
    failures = []
    golden = os.path.join(GOLDEN_ROOT, lang)
    with tempfile.TemporaryDirectory() as out:
        result = run_protoc(args, GOOD_PROTOS, parameter, out)
        if result.returncode != 0:
            return ["%s: protoc failed (%d): %s" % (lang, result.returncode, result.stderr.strip())]
        if args.update:
            shutil.rmtree(golden, ignore_errors=True)
            shutil.copytree(out, golden)
            print("updated %s (%d files)" % (golden, len(list_files(golden))))
            return []
        generated, expected = list_files(out), list_files(golden)
        for name in sorted(expected - generated):
            failures.append("%s: %s was not generated" % (lang, name))
        for name in sorted(generated - expected):
            failures.append("%s: %s is generated but has no golden file" % (lang, name))
        for name in sorted(generated & expected):
            want, got = read(os.path.join(golden, name)), read(os.path.join(out, name))
            if want != got:
                diff = "".join(difflib.unified_diff(
                    want.splitlines(True), got.splitlines(True),
                    "golden/%s/%s" % (lang, name), "generated/%s" % name))
                failures.append("%s: %s differs:\n%s" % (lang, name, diff))
    return failures


def check_bad_inputs(args):
    failures = []
    for proto, parameter, expected in BAD_INPUTS:
        with tempfile.TemporaryDirectory() as out:
            result = run_protoc(args, [proto], parameter, out)
            if result.returncode == 0:
                failures.append("bad input %s (%s): protoc succeeded" % (proto, parameter))
            elif expected not in result.stderr:
                failures.append("bad input %s (%s): error %r lacks %r" %
                                (proto, parameter, result.stderr.strip(), expected))
            elif list_files(out):
                failures.append("bad input %s (%s): files were written anyway" % (proto, parameter))
    return failures


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--plugin", required=True, help="path to protoc-gen-polyrpc")
    parser.add_argument("--protoc", default="protoc")
    parser.add_argument("--protobuf-include", default="/usr/include",
                        help="directory holding google/protobuf/*.proto")
    parser.add_argument("--update", action="store_true", help="rewrite the golden files")
    args = parser.parse_args()

    failures = []
    for lang, parameter in LANGS.items():
        failures += check_lang(args, lang, parameter)
    if not args.update:
        failures += check_bad_inputs(args)
    for f in failures:
        print("FAIL " + f)
    if failures:
        print("%d failure(s). If the change is deliberate: %s --update" % (len(failures), sys.argv[0]))
        return 1
    print("ok: %d languages, %d bad inputs" % (len(LANGS), len(BAD_INPUTS)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
