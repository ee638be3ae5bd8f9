// The child of LifetimeTest.ChildProcessExitsCleanly: makes async calls to an in-process server,
// leaves a stream open, a server running and a channel unclosed, and returns from Main. The
// process must exit promptly; its own ProcessExit handler (registered after polyrpc's) prints
// how many completion tags were still out once polyrpc's hook had run.
using System;
using System.Threading.Tasks;
using PolyRpc.Core;
using PolyRpc.Core.Internal;

static class ExitCheck
{
    static int Main()
    {
        var m = new Method<string, string>(MethodType.Unary, "exit.S", "Echo", Marshallers.StringMarshaller, Marshallers.StringMarshaller);
        var hang = new Method<string, string>(MethodType.DuplexStreaming, "exit.S", "Hang", Marshallers.StringMarshaller, Marshallers.StringMarshaller);
        var server = new Server();
        server.Services.Add(ServerServiceDefinition.CreateBuilder()
            .AddMethod(m, (string r, ServerCallContext c) => Task.FromResult(r))
            .AddMethod(hang, (IAsyncStreamReader<string> rs, IServerStreamWriter<string> ws, ServerCallContext c) => Task.Delay(-1, c.CancellationToken))
            .Build());
        int port = server.Ports.Add("127.0.0.1", 0, ServerCredentials.Insecure);
        server.Start();
        var channel = new Channel("127.0.0.1:" + port, ChannelCredentials.Insecure);
        var invoker = channel.CreateCallInvoker();
        var calls = new Task<string>[20];
        for (int i = 0; i < calls.Length; i++) calls[i] = invoker.AsyncUnaryCall(m, null, new CallOptions(), "c" + i).ResponseAsync;
        Task.WaitAll(calls);
        Console.WriteLine("calls done: " + calls.Length);
        var open = invoker.AsyncDuplexStreamingCall(hang, null, new CallOptions());
        open.RequestStream.WriteAsync("x").Wait();
        AppDomain.CurrentDomain.ProcessExit += (s, e) =>
        {
            // A handler racing the exit may still be between allocating a tag and learning that
            // the queue is closed: give it a moment (bounded).
            for (int i = 0; i < 100 && NativeStats.LiveTags != 0; i++) System.Threading.Thread.Sleep(10);
            Console.WriteLine("at exit: tags=" + NativeStats.LiveTags);
            Console.Out.Flush();
        };
        GC.KeepAlive(open);
        return 0;
    }
}
