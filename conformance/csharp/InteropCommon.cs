// Shared by the C# interop client and server: the gRPC interop flags, TLS files, the
// grpc.testing methods as JSON methods of a DescriptorPool (no protobuf runtime for C# is reachable
// here, so messages travel as proto3 JSON transcoded by libpolyrpc), and a small JSON reader.
using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Text;
using PolyRpc.Core;
using PolyRpc.Core.Dynamic;

namespace PolyRpc.Interop
{
    static class Flags
    {
        /// <summary>gflags-style --name=value (or --name value; bare --flag for booleans). Unknown
        /// flags exit 2.</summary>
        internal static Dictionary<string, string> Parse(string[] args, Dictionary<string, string> spec)
        {
            var values = new Dictionary<string, string>(spec);
            for (int i = 0; i < args.Length; i++)
            {
                var a = args[i];
                if (!a.StartsWith("--"))
                {
                    Console.Error.WriteLine("unexpected argument: " + a);
                    Environment.Exit(2);
                }
                string name = a.Substring(2), value = null;
                int eq = name.IndexOf('=');
                if (eq >= 0)
                {
                    value = name.Substring(eq + 1);
                    name = name.Substring(0, eq);
                }
                if (!spec.ContainsKey(name))
                {
                    Console.Error.WriteLine("unknown flag: --" + name);
                    Environment.Exit(2);
                }
                if (value == null)
                {
                    bool isBool = spec[name] == "false" || spec[name] == "true";
                    if (isBool) value = "true";
                    else if (i + 1 < args.Length) value = args[++i];
                    else
                    {
                        Console.Error.WriteLine("missing value for --" + name);
                        Environment.Exit(2);
                    }
                }
                values[name] = value;
            }
            return values;
        }

        internal static bool Bool(Dictionary<string, string> f, string name)
        {
            var v = f[name].ToLowerInvariant();
            return v == "true" || v == "1";
        }

        internal static string DefaultCertDir()
        {
            var env = Environment.GetEnvironmentVariable("POLYRPC_TEST_CERTS");
            if (!string.IsNullOrEmpty(env)) return env;
            // build/conformance/csharp/ -> build/certs
            return Path.GetFullPath(Path.Combine(AppDomain.CurrentDomain.BaseDirectory, "..", "..", "certs"));
        }
    }

    /// <summary>grpc.testing.TestService's methods with JSON marshallers, from the descriptor set
    /// built beside the programs (protoc --descriptor_set_out --include_imports).</summary>
    sealed class TestService
    {
        internal const string Name = "grpc.testing.TestService";
        internal readonly DescriptorPool Pool;
        internal readonly Method<string, string> EmptyCall, UnaryCall, CacheableUnaryCall, StreamingOutputCall,
                                                 StreamingInputCall, FullDuplexCall, HalfDuplexCall, UnimplementedCall,
                                                 UnimplementedServiceCall;

        internal TestService()
        {
            var fds = Path.Combine(AppDomain.CurrentDomain.BaseDirectory, "grpc_testing.fds");
            Pool = DescriptorPool.FromFileDescriptorSet(File.ReadAllBytes(fds));
            // Responses print their default-valued fields too (payload type COMPRESSABLE is 0).
            var o = JsonOptions.EmitDefaults;
            EmptyCall = Pool.JsonMethod(Name + "/EmptyCall", o);
            UnaryCall = Pool.JsonMethod(Name + "/UnaryCall", o);
            CacheableUnaryCall = Pool.JsonMethod(Name + "/CacheableUnaryCall", o);
            StreamingOutputCall = Pool.JsonMethod(Name + "/StreamingOutputCall", o);
            StreamingInputCall = Pool.JsonMethod(Name + "/StreamingInputCall", o);
            FullDuplexCall = Pool.JsonMethod(Name + "/FullDuplexCall", o);
            HalfDuplexCall = Pool.JsonMethod(Name + "/HalfDuplexCall", o);
            UnimplementedCall = Pool.JsonMethod(Name + "/UnimplementedCall", o);
            UnimplementedServiceCall = Pool.JsonMethod("grpc.testing.UnimplementedService/UnimplementedCall", o);
        }
    }

    /// <summary>Enough JSON for the interop messages: a reader into Dictionary / List / string /
    /// double / bool / null, and Q() to quote strings for the writers.</summary>
    static class Json
    {
        internal static object Parse(string text)
        {
            int i = 0;
            var v = Value(text, ref i);
            Skip(text, ref i);
            if (i != text.Length) throw new FormatException("trailing characters in JSON at " + i);
            return v;
        }

        internal static Dictionary<string, object> Object(string text)
        {
            var o = Parse(text) as Dictionary<string, object>;
            if (o == null) throw new FormatException("JSON is not an object: " + Clip(text));
            return o;
        }

        /// <summary>obj[a][b]...; null when absent.</summary>
        internal static object Get(object obj, params string[] path)
        {
            foreach (var k in path)
            {
                var d = obj as Dictionary<string, object>;
                object next;
                if (d == null || !d.TryGetValue(k, out next)) return null;
                obj = next;
            }
            return obj;
        }

        internal static long Int(object obj, params string[] path)
        {
            var v = Get(obj, path);
            if (v == null) return 0;
            if (v is double) return (long)(double)v;
            if (v is string) return long.Parse((string)v, CultureInfo.InvariantCulture);
            throw new FormatException("not a number: " + string.Join(".", path));
        }

        internal static bool Bool(object obj, params string[] path)
        {
            var v = Get(obj, path);
            return v is bool && (bool)v;
        }

        internal static string Str(object obj, params string[] path) { return Get(obj, path) as string; }

        internal static List<object> List(object obj, params string[] path)
        {
            return Get(obj, path) as List<object> ?? new List<object>();
        }

        internal static string Q(string s)
        {
            var b = new StringBuilder("\"");
            foreach (char c in s)
            {
                switch (c)
                {
                    case '"': b.Append("\\\""); break;
                    case '\\': b.Append("\\\\"); break;
                    case '\n': b.Append("\\n"); break;
                    case '\r': b.Append("\\r"); break;
                    case '\t': b.Append("\\t"); break;
                    default:
                        if (c < 0x20) b.Append("\\u").Append(((int)c).ToString("x4"));
                        else b.Append(c);
                        break;
                }
            }
            return b.Append('"').ToString();
        }

        internal static string Clip(string s) { return s.Length > 200 ? s.Substring(0, 200) + "..." : s; }

        static void Skip(string s, ref int i)
        {
            while (i < s.Length && (s[i] == ' ' || s[i] == '\n' || s[i] == '\r' || s[i] == '\t')) i++;
        }

        static object Value(string s, ref int i)
        {
            Skip(s, ref i);
            if (i >= s.Length) throw new FormatException("unexpected end of JSON");
            char c = s[i];
            if (c == '{')
            {
                var d = new Dictionary<string, object>();
                i++;
                Skip(s, ref i);
                if (i < s.Length && s[i] == '}') { i++; return d; }
                for (;;)
                {
                    Skip(s, ref i);
                    var k = String(s, ref i);
                    Skip(s, ref i);
                    Expect(s, ref i, ':');
                    d[k] = Value(s, ref i);
                    Skip(s, ref i);
                    if (i < s.Length && s[i] == ',') { i++; continue; }
                    Expect(s, ref i, '}');
                    return d;
                }
            }
            if (c == '[')
            {
                var l = new List<object>();
                i++;
                Skip(s, ref i);
                if (i < s.Length && s[i] == ']') { i++; return l; }
                for (;;)
                {
                    l.Add(Value(s, ref i));
                    Skip(s, ref i);
                    if (i < s.Length && s[i] == ',') { i++; continue; }
                    Expect(s, ref i, ']');
                    return l;
                }
            }
            if (c == '"') return String(s, ref i);
            if (string.CompareOrdinal(s, i, "true", 0, 4) == 0) { i += 4; return true; }
            if (string.CompareOrdinal(s, i, "false", 0, 5) == 0) { i += 5; return false; }
            if (string.CompareOrdinal(s, i, "null", 0, 4) == 0) { i += 4; return null; }
            int start = i;
            while (i < s.Length && "+-0123456789.eE".IndexOf(s[i]) >= 0) i++;
            if (start == i) throw new FormatException("unexpected '" + c + "' in JSON at " + i);
            return double.Parse(s.Substring(start, i - start), CultureInfo.InvariantCulture);
        }

        static void Expect(string s, ref int i, char c)
        {
            if (i >= s.Length || s[i] != c) throw new FormatException("expected '" + c + "' in JSON at " + i);
            i++;
        }

        static string String(string s, ref int i)
        {
            Expect(s, ref i, '"');
            var b = new StringBuilder();
            while (i < s.Length && s[i] != '"')
            {
                char c = s[i++];
                if (c != '\\')
                {
                    b.Append(c);
                    continue;
                }
                char e = s[i++];
                switch (e)
                {
                    case 'n': b.Append('\n'); break;
                    case 'r': b.Append('\r'); break;
                    case 't': b.Append('\t'); break;
                    case 'b': b.Append('\b'); break;
                    case 'f': b.Append('\f'); break;
                    case 'u': b.Append((char)int.Parse(s.Substring(i, 4), NumberStyles.HexNumber)); i += 4; break;
                    default: b.Append(e); break;
                }
            }
            Expect(s, ref i, '"');
            return b.ToString();
        }
    }

    static class Payloads
    {
        /// <summary>"payload":{"body":base64 of n zero bytes} (type COMPRESSABLE is the default).</summary>
        internal static string Zeros(long n)
        {
            return "{\"type\":\"COMPRESSABLE\",\"body\":\"" + Convert.ToBase64String(new byte[n]) + "\"}";
        }

        /// <summary>Length of a base64 body without decoding it.</summary>
        internal static long Base64Length(string b64)
        {
            if (string.IsNullOrEmpty(b64)) return 0;
            long n = b64.Length / 4 * 3;
            if (b64.EndsWith("==")) n -= 2;
            else if (b64.EndsWith("=")) n -= 1;
            return n;
        }
    }
}
