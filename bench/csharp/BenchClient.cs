// Unary client loop on the C# binding (PolyRpc.Core), for bench/run, printing one JSON line like
// the C++ and C ABI loops: {"ops":N,"secs":S,"rate":N/S,"p50_us":..,"p99_us":..,"errors":E}.
//
//   mono PolyRpcBench.exe --target=127.0.0.1:PORT --mode=async --inflight=100 --duration=2 --warmup=0.3
//   mono PolyRpcBench.exe --target=127.0.0.1:PORT --mode=blocking --threads=1
//
// --mode=async: one caller keeps --inflight AsyncUnaryCalls in flight (each completion starts the
// next); --mode=blocking: --threads threads each make BlockingUnaryCalls one after the other.
// The request is the same 106-byte SimpleRequest as the other loops (response_size 100, a
// 100-byte payload), encoded once; every response is checked to carry a 100-byte payload (a
// small protobuf walk, since no protobuf runtime for C# is reachable here).
using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.Threading;
using System.Threading.Tasks;
using PolyRpc.Core;

static class BenchClient
{
    static int reqSize = 100, respSize = 100;

    static byte[] Request()
    {
        // SimpleRequest{response_size (2): respSize, payload (3): Payload{body (2): reqSize x 'x'}}
        var body = new List<byte> { 0x12 };
        Varint(body, (ulong)reqSize);
        for (int i = 0; i < reqSize; i++) body.Add((byte)'x');
        var req = new List<byte> { 0x10 };
        Varint(req, (ulong)respSize);
        req.Add(0x1a);
        Varint(req, (ulong)body.Count);
        req.AddRange(body);
        return req.ToArray();
    }

    static void Varint(List<byte> b, ulong v)
    {
        while (v >= 0x80)
        {
            b.Add((byte)(v | 0x80));
            v >>= 7;
        }
        b.Add((byte)v);
    }

    static ulong ReadVarint(byte[] b, ref int i)
    {
        ulong v = 0;
        for (int shift = 0; i < b.Length && shift < 64; shift += 7)
        {
            byte x = b[i++];
            v |= (ulong)(x & 0x7f) << shift;
            if (x < 0x80) return v;
        }
        throw new FormatException("bad varint");
    }

    /// <summary>Length of the payload body of a SimpleResponse (field 1 Payload, its field 2), or -1.</summary>
    static int PayloadLength(byte[] b, int start, int end, int outerField, int innerField)
    {
        int i = start;
        while (i < end)
        {
            ulong key = ReadVarint(b, ref i);
            int field = (int)(key >> 3), wire = (int)(key & 7);
            if (wire == 0) { ReadVarint(b, ref i); continue; }
            if (wire != 2) return -1;
            int len = (int)ReadVarint(b, ref i);
            if (field == outerField)
            {
                if (innerField < 0) return len;
                return PayloadLength(b, i, i + len, innerField, -1);
            }
            i += len;
        }
        return -1;
    }

    static bool Check(byte[] response)
    {
        return PayloadLength(response, 0, response.Length, 1, 2) == respSize;
    }

    static int Main(string[] args)
    {
        string target = "127.0.0.1:50051", mode = "async";
        int inflight = 100, threads = 1;
        double duration = 2.0, warmup = 0.3;
        foreach (var a in args)
        {
            int eq = a.IndexOf('=');
            if (!a.StartsWith("--") || eq < 0)
            {
                Console.Error.WriteLine("flags are --name=value; bad: " + a);
                return 2;
            }
            string k = a.Substring(2, eq - 2), v = a.Substring(eq + 1);
            switch (k)
            {
                case "target": target = v; break;
                case "mode": mode = v; break;
                case "inflight": inflight = int.Parse(v); break;
                case "threads": threads = int.Parse(v); break;
                case "duration": duration = double.Parse(v, CultureInfo.InvariantCulture); break;
                case "warmup": warmup = double.Parse(v, CultureInfo.InvariantCulture); break;
                case "req_size": reqSize = int.Parse(v); break;
                case "resp_size": respSize = int.Parse(v); break;
                case "scenario": if (v != "unary") { Console.Error.WriteLine("only --scenario=unary"); return 2; } break;
                default: Console.Error.WriteLine("unknown flag --" + k); return 2;
            }
        }
        var channel = new Channel(target, ChannelCredentials.Insecure);
        try
        {
            channel.ConnectAsync(DateTime.UtcNow.AddSeconds(10)).Wait();
        }
        catch (AggregateException)
        {
            Console.Error.WriteLine("could not connect to " + target);
            return 1;
        }
        var bytes = Marshallers.ByteArrayMarshaller;
        var method = new Method<byte[], byte[]>(MethodType.Unary, "grpc.testing.TestService", "UnaryCall", bytes, bytes);
        var invoker = channel.CreateCallInvoker();
        var request = Request();
        var loop = new Loop();
        if (mode == "async")
        {
            for (int i = 0; i < inflight; i++) loop.Start(() => AsyncCaller(invoker, method, request, loop));
        }
        else if (mode == "blocking")
        {
            for (int i = 0; i < threads; i++)
            {
                var t = new Thread(() => BlockingCaller(invoker, method, request, loop)) { IsBackground = true };
                t.Start();
                loop.Threads.Add(t);
            }
        }
        else
        {
            Console.Error.WriteLine("--mode is async or blocking");
            return 2;
        }
        return loop.Run(warmup, duration);
    }

    static async Task AsyncCaller(CallInvoker invoker, Method<byte[], byte[]> method, byte[] request, Loop loop)
    {
        while (!loop.Stop)
        {
            long t0 = Stopwatch.GetTimestamp();
            bool ok;
            try
            {
                ok = Check(await invoker.AsyncUnaryCall(method, null, new CallOptions(), request).ConfigureAwait(false));
            }
            catch (RpcException)
            {
                ok = false;
            }
            loop.Record(t0, ok);
        }
    }

    static void BlockingCaller(CallInvoker invoker, Method<byte[], byte[]> method, byte[] request, Loop loop)
    {
        while (!loop.Stop)
        {
            long t0 = Stopwatch.GetTimestamp();
            bool ok;
            try
            {
                ok = Check(invoker.BlockingUnaryCall(method, null, new CallOptions(), request));
            }
            catch (RpcException)
            {
                ok = false;
            }
            loop.Record(t0, ok);
        }
    }

    sealed class Loop
    {
        internal readonly List<Thread> Threads = new List<Thread>();
        readonly List<Task> tasks = new List<Task>();
        readonly object sync = new object();
        readonly List<double> latencies = new List<double>(1 << 18);
        volatile bool measuring;
        internal volatile bool Stop;
        long ops, errors;

        internal void Start(Func<Task> f) { tasks.Add(Task.Run(f)); }

        internal void Record(long t0, bool ok)
        {
            if (!measuring) return;
            double us = (Stopwatch.GetTimestamp() - t0) * 1e6 / Stopwatch.Frequency;
            if (!ok)
            {
                Interlocked.Increment(ref errors);
                return;
            }
            Interlocked.Increment(ref ops);
            lock (sync) latencies.Add(us);
        }

        internal int Run(double warmup, double duration)
        {
            Thread.Sleep(TimeSpan.FromSeconds(warmup));
            var sw = Stopwatch.StartNew();
            measuring = true;
            Thread.Sleep(TimeSpan.FromSeconds(duration));
            measuring = false;
            double secs = sw.Elapsed.TotalSeconds;
            Stop = true;
            Task.WaitAll(tasks.ToArray(), 10000);
            foreach (var t in Threads) t.Join(10000);
            double[] all;
            lock (sync) all = latencies.ToArray();
            Array.Sort(all);
            Func<double, double> pct = p => all.Length == 0 ? 0 : all[Math.Min(all.Length - 1, (int)(p * all.Length))];
            Console.WriteLine(string.Format(CultureInfo.InvariantCulture,
                "{{\"ops\":{0},\"secs\":{1:F4},\"rate\":{2:F1},\"p50_us\":{3:F1},\"p99_us\":{4:F1},\"errors\":{5}}}",
                ops, secs, ops / secs, pct(0.50), pct(0.99), errors));
            Console.Out.Flush();
            return errors == 0 && ops > 0 ? 0 : 1;
        }
    }
}
