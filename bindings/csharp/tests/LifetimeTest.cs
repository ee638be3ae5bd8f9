// Native handles and GC handles under garbage collection: objects dropped in every order, forced
// collections, and the live counts back where they started. And a child process that makes async
// calls exits promptly (the ProcessExit hook stops the library and gets every tag back).
using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Runtime.CompilerServices;
using System.Threading;
using System.Threading.Tasks;
using NUnit.Framework;
using PolyRpc.Core;
using PolyRpc.Core.Internal;

namespace PolyRpc.Tests
{
    [TestFixture, Timeout(120000)]
    public class LifetimeTest
    {
        static void Collect()
        {
            for (int i = 0; i < 3; i++)
            {
                GC.Collect();
                GC.WaitForPendingFinalizers();
            }
        }

        /// <summary>The live counts once what earlier tests left has been collected (stable for 200 ms).</summary>
        static void Baseline(out int handles, out int tags)
        {
            int h = -1, t = -1;
            for (int i = 0; i < 50; i++)
            {
                Collect();
                int h2 = NativeStats.LiveHandles, t2 = NativeStats.LiveTags;
                if (h2 == h && t2 == t) break;
                h = h2;
                t = t2;
                Thread.Sleep(100);
            }
            handles = h;
            tags = t;
        }

        /// <summary>Collects until the live counts equal these (completions settle on other threads).</summary>
        static void AssertBackTo(int handles, int tags, string what)
        {
            bool ok = TestEnv.Eventually(() =>
            {
                Collect();
                return NativeStats.LiveHandles == handles && NativeStats.LiveTags == tags;
            }, 10000);
            Assert.IsTrue(ok, what + ": live " + NativeStats.Describe() + "; expected handles=" + handles + ", tags=" + tags);
        }

        /// <summary>Runs f on a thread of its own and waits: Mono scans stacks conservatively, so
        /// objects made there leave no stale reference in this thread's frames.</summary>
        static T OnThread<T>(Func<T> f)
        {
            T result = default(T);
            Exception error = null;
            var t = new Thread(() =>
            {
                try { result = f(); }
                catch (Exception e) { error = e; }
            });
            t.Start();
            Assert.IsTrue(t.Join(30000), "the helper thread did not finish");
            if (error != null) throw new Exception("on the helper thread: " + error.Message, error);
            // The thread's closure holds result, and Mono may keep a finished Thread for a while.
            var r = result;
            result = default(T);
            return r;
        }

        static void OnThread(Action a) { OnThread<int>(() => { a(); return 0; }); }

        sealed class Holder
        {
            internal Channel Channel;
            internal List<object> Calls = new List<object>();
        }

        /// <summary>Makes calls of every kind on a fresh channel and leaves them in every state:
        /// finished, finished but not read to the end, abandoned while in flight (deadline), and
        /// a stream whose server handler waits until the call is cancelled.</summary>
        [MethodImpl(MethodImplOptions.NoInlining)]
        static Holder MakeCalls(int port)
        {
            var h = new Holder { Channel = new Channel("127.0.0.1:" + port, ChannelCredentials.Insecure) };
            var inv = h.Channel.CreateCallInvoker();
            var opts = new CallOptions(deadline: DateTime.UtcNow.AddSeconds(10));
            for (int i = 0; i < 20; i++)
            {
                var u = inv.AsyncUnaryCall(Svc.Echo, null, opts, "u" + i);
                Assert.AreEqual("u" + i, u.ResponseAsync.Result);
                h.Calls.Add(u);
            }
            Assert.AreEqual("b", inv.BlockingUnaryCall(Svc.Echo, null, opts, "b"));
            // Streams read only halfway: the calls are over, their handles wait for Dispose or the finaliser.
            for (int i = 0; i < 5; i++)
            {
                var s = inv.AsyncServerStreamingCall(Svc.Count, null, opts, "4");
                Assert.IsTrue(s.ResponseStream.MoveNext().Result);
                h.Calls.Add(s);
            }
            // In flight when dropped; the deadline ends them.
            for (int i = 0; i < 5; i++)
                h.Calls.Add(inv.AsyncUnaryCall(Svc.Sleep, null, new CallOptions(deadline: DateTime.UtcNow.AddMilliseconds(300)), "5000"));
            var d = inv.AsyncDuplexStreamingCall(Svc.Hang, null, new CallOptions(deadline: DateTime.UtcNow.AddMilliseconds(400)));
            Assert.IsTrue(d.ResponseStream.MoveNext().Result);
            h.Calls.Add(d);
            var c = inv.AsyncClientStreamingCall(Svc.Join, null, new CallOptions(deadline: DateTime.UtcNow.AddMilliseconds(400)));
            c.RequestStream.WriteAsync("x").Wait();
            h.Calls.Add(c); // never completed: the deadline ends it
            return h;
        }

        [Test]
        public void CallsCollectedBeforeTheirChannel()
        {
            using (var lo = new Loopback())
            {
                lo.Invoker.BlockingUnaryCall(Svc.Echo, null, new CallOptions(), "warm");
                int handles, tags;
                Baseline(out handles, out tags);
                // Made and kept only off this thread: no stale reference in this frame.
                var box = new StrongBox<Holder>();
                OnThread(() => { box.Value = MakeCalls(lo.Port); });
                OnThread(() => box.Value.Calls.Clear());
                AssertBackTo(handles + 1, tags, "calls collected, channel alive");
                Assert.AreEqual(ChannelState.Ready, OnThread(() => box.Value.Channel.State));
                OnThread(() => { box.Value = null; });
                AssertBackTo(handles, tags, "then the channel");
            }
        }

        [Test]
        public void ChannelCollectedBeforeItsCalls()
        {
            using (var lo = new Loopback())
            {
                lo.Invoker.BlockingUnaryCall(Svc.Echo, null, new CallOptions(), "warm");
                int handles, tags;
                Baseline(out handles, out tags);
                int channels = NativeStats.Live(HandleKind.Channel);
                var calls = new StrongBox<List<object>>();
                OnThread(() => { calls.Value = MakeCalls(lo.Port).Calls; });
                Assert.IsTrue(TestEnv.Eventually(() =>
                {
                    Collect();
                    return NativeStats.Live(HandleKind.Channel) == channels;
                }), "the channel was not collected while its calls lived: " + NativeStats.Describe());
                // The calls still work as objects: the finished ones have their status.
                Assert.AreEqual(StatusCode.OK, OnThread(() => ((AsyncUnaryCall<string>)calls.Value[0]).GetStatus().StatusCode));
                OnThread(() => { calls.Value = null; });
                AssertBackTo(handles, tags, "then the calls");
            }
        }

        [Test]
        public void EverythingDroppedAtOnceWhileCallsAreInFlight()
        {
            using (var lo = new Loopback())
            {
                lo.Invoker.BlockingUnaryCall(Svc.Echo, null, new CallOptions(), "warm");
                int handles, tags;
                Baseline(out handles, out tags);
                OnThread(() => { MakeCalls(lo.Port); });
                AssertBackTo(handles, tags, "all dropped together");
            }
        }

        [MethodImpl(MethodImplOptions.NoInlining)]
        static void AbandonServerAndCalls(List<Task> observed)
        {
            var server = new Server();
            server.Services.Add(Svc.Definition());
            int port = server.Ports.Add("127.0.0.1", 0, ServerCredentials.Insecure);
            server.Start();
            var ch = new Channel("127.0.0.1:" + port, ChannelCredentials.Insecure);
            var inv = ch.CreateCallInvoker();
            // No deadline: only the server's end stops these.
            for (int i = 0; i < 3; i++)
            {
                var d = inv.AsyncDuplexStreamingCall(Svc.Hang, null, new CallOptions());
                Assert.IsTrue(d.ResponseStream.MoveNext().Result);
                observed.Add(d.ResponseStream.MoveNext());
            }
            Assert.IsTrue(server.KillAsync().Wait(5000));
        }

        [Test]
        public void KilledServerEndsItsCallsAndEverythingIsReleased()
        {
            int handles, tags;
            Baseline(out handles, out tags);
            var observed = new List<Task>();
            OnThread(() => AbandonServerAndCalls(observed));
            foreach (var t in observed)
            {
                var e = Async.Throws<RpcException>(() => t);
                Assert.That(e.StatusCode == StatusCode.Cancelled || e.StatusCode == StatusCode.Unavailable, e.ToString());
            }
            observed.Clear();
            AssertBackTo(handles, tags, "server, channel and calls dropped");
        }

        [Test]
        public void DisposeReleasesAtOnce()
        {
            using (var lo = new Loopback())
            {
                lo.Invoker.BlockingUnaryCall(Svc.Echo, null, new CallOptions(), "warm");
                int handles0, tags0;
                Baseline(out handles0, out tags0);
                int calls = NativeStats.Live(HandleKind.Call);
                var s = lo.Invoker.AsyncServerStreamingCall(Svc.Count, null, new CallOptions(), "3");
                Assert.IsTrue(s.ResponseStream.MoveNext().Result);
                Assert.IsTrue(TestEnv.Eventually(() => { try { s.GetStatus(); return true; } catch (InvalidOperationException) { return false; } }));
                Assert.AreEqual(calls + 1, NativeStats.Live(HandleKind.Call), "a stream not read to the end keeps its call");
                s.Dispose();
                Assert.IsTrue(TestEnv.Eventually(() => NativeStats.Live(HandleKind.Call) == calls), NativeStats.Describe());
                GC.KeepAlive(s);
            }
        }

        [Test]
        public void ChildProcessExitsCleanly()
        {
            var exe = Path.Combine(TestEnv.BinDir, "PolyRpcExitCheck.exe");
            Assert.IsTrue(File.Exists(exe), exe + " missing");
            var psi = new ProcessStartInfo("mono", "\"" + exe + "\"")
            {
                UseShellExecute = false,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };
            var sw = Stopwatch.StartNew();
            using (var p = Process.Start(psi))
            {
                var stdout = p.StandardOutput.ReadToEndAsync();
                var stderr = p.StandardError.ReadToEndAsync();
                bool exited = p.WaitForExit(15000);
                if (!exited)
                {
                    p.Kill();
                    Assert.Fail("the child did not exit within 15 s; stderr: " + stderr.Result);
                }
                p.WaitForExit();
                string output = stdout.Result;
                Assert.AreEqual(0, p.ExitCode, "child exit code; stdout: " + output + " stderr: " + stderr.Result);
                StringAssert.Contains("calls done: 20", output);
                // Printed by the child's own ProcessExit handler, after polyrpc's.
                StringAssert.Contains("at exit: tags=0", output);
                Assert.Less(sw.ElapsedMilliseconds, 5000, "exit took too long");
            }
        }
    }
}
