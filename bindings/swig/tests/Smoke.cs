// The generated C# P/Invoke layer (PolyRpc.Native), checked against the C ABI: every kind of
// typemap of bindings/swig/typemaps_csharp.swg, and one real call from a client to a server of
// the same process through a completion queue. Run by ctest (swig.csharp); exit code 1 on failure.
using System;
using System.Collections.Generic;
using System.Runtime.InteropServices;
using System.Text;
using PolyRpc.Native;
using N = PolyRpc.Native.PolyRpcNative;

static class Smoke {
  static void Check(bool cond, string what) {
    if (!cond) throw new Exception("FAILED: " + what);
  }

  static NativeException Raises(Action a) {
    try {
      a();
    } catch (NativeException e) {
      return e;
    }
    return null;
  }

  static byte[] Bytes(IntPtr p, ulong n) {
    var b = new byte[n];
    if (n > 0) Marshal.Copy(p, b, 0, (int)n);
    return b;
  }

  static string Utf8(IntPtr p) {
    if (p == IntPtr.Zero) return null;
    int n = 0;
    while (Marshal.ReadByte(p, n) != 0) n++;
    return Encoding.UTF8.GetString(Bytes(p, (ulong)n));
  }

  static int Main() {
    try {
      Run();
    } catch (Exception e) {
      Console.Error.WriteLine(e.Message);
      return 1;
    }
    Console.WriteLine("ok: csharp wrapper");
    return 0;
  }

  static void Run() {
    Check(N.polyrpc_version().Split('.').Length == 3, "version");
    var bytes = new byte[] { (byte)'a', 0, (byte)'b', 0xff };
    IntPtr buf, p;
    ulong n;
    N.polyrpc_buffer_create_copy(bytes, (ulong)bytes.Length, out buf);
    N.polyrpc_buffer_data(buf, out p, out n);
    Check(n == 4 && BitConverter.ToString(Bytes(p, n)) == BitConverter.ToString(bytes), "buffer round trip");
    // size_t is 64 bits: a ulong.
    ulong len = N.polyrpc_buffer_length(buf);
    Check(len == 4, "size_t result");

    var e = Raises(() => { IntPtr q; ulong m; N.polyrpc_buffer_data(IntPtr.Zero, out q, out m); });
    Check(e != null && e.Code == (int)polyrpc_error_t.POLYRPC_ERROR_INVALID_ARGUMENT &&
          e.Name == "POLYRPC_ERROR_INVALID_ARGUMENT" && e.Message.Contains("buffer is NULL"),
          "error carries code, name and message");
    IntPtr md;
    N.polyrpc_metadata_create(out md);
    // A handle of the wrong type is caught by the C ABI's handle tags.
    e = Raises(() => { IntPtr q; ulong m; N.polyrpc_buffer_data(md, out q, out m); });
    Check(e != null && e.Code == (int)polyrpc_error_t.POLYRPC_ERROR_INVALID_ARGUMENT, "wrong handle type");
    N.polyrpc_metadata_add(md, "k-bin", new byte[] { 1, 2 }, 2);
    Check(N.polyrpc_metadata_count(md) == 1, "metadata count");
    IntPtr key, val;
    ulong vlen;
    N.polyrpc_metadata_get(md, 0, out key, out val, out vlen);
    Check(Utf8(key) == "k-bin" && vlen == 2 && Bytes(val, vlen)[1] == 2, "metadata get");
    N.polyrpc_metadata_destroy(md);

    IntPtr cq;
    N.polyrpc_cq_create(out cq);
    var ev = new PolyrpcEvent();
    N.polyrpc_cq_next(cq, 0, ref ev);
    Check(ev.Type == (int)polyrpc_event_type_t.POLYRPC_EVENT_NONE, "empty poll");
    Check(ev.StructSize.ToUInt64() == (ulong)Marshal.SizeOf(typeof(PolyrpcEvent)), "struct_size set by the wrapper");
    N.polyrpc_cq_wake(cq);
    N.polyrpc_cq_next(cq, 0, ref ev);
    Check(ev.Type == (int)polyrpc_event_type_t.POLYRPC_EVENT_WAKEUP, "wake-up event");

    IntPtr creds, server, ccreds, ch, call;
    int port;
    N.polyrpc_server_credentials_create_insecure(out creds);
    N.polyrpc_server_create(IntPtr.Zero, out server);
    N.polyrpc_server_add_listener(server, "127.0.0.1:0", creds, out port);
    Check(port > 0, "port out");
    N.polyrpc_server_register_method(server, "/smoke.S/M");
    N.polyrpc_server_start(server);
    IntPtr serverTag = new IntPtr(1L << 40);
    N.polyrpc_server_request_call_v2(server, cq, serverTag);

    N.polyrpc_channel_credentials_create_insecure(out ccreds);
    N.polyrpc_channel_create("127.0.0.1:" + port, ccreds, IntPtr.Zero, out ch);
    N.polyrpc_call_create(ch, "/smoke.S/M", 5000, IntPtr.Zero, 0, out call);
    N.polyrpc_call_send_message(call, buf, 2 /* POLYRPC_WRITE_LAST */, cq, new IntPtr(7));
    N.polyrpc_call_recv_status(call, cq, new IntPtr(8));

    var seen = new Dictionary<long, int>();
    var deadline = DateTime.UtcNow.AddSeconds(10);
    while (!seen.ContainsKey(8) && DateTime.UtcNow < deadline) {
      N.polyrpc_cq_next(cq, 1000, ref ev);
      if (ev.Type == (int)polyrpc_event_type_t.POLYRPC_EVENT_NONE) continue;
      Check(ev.Type == (int)polyrpc_event_type_t.POLYRPC_EVENT_COMPLETE, "completion type");
      seen[ev.Tag.ToInt64()] = ev.Success;
      if (ev.Tag != serverTag) continue;
      Check(ev.Success == 1, "request completed");
      IntPtr sc, msg, end;
      N.polyrpc_server_take_call(server, serverTag, out sc);
      Check(N.polyrpc_call_method(sc) == "/smoke.S/M", "server call method");
      N.polyrpc_call_read(sc, out msg);
      N.polyrpc_buffer_data(msg, out p, out n);
      Check(n == 4 && Bytes(p, n)[3] == 0xff, "server read the request");
      N.polyrpc_call_read(sc, out end);
      Check(end == IntPtr.Zero, "end of stream is Zero, not an error");
      N.polyrpc_call_send_status(sc, 5, "not here", IntPtr.Zero, IntPtr.Zero, IntPtr.Zero);
      N.polyrpc_buffer_destroy(msg);
      N.polyrpc_call_destroy(sc);
    }
    Check(seen.ContainsKey(7) && seen[7] == 1 && seen.ContainsKey(8) && seen[8] == 1, "client completions");
    int code;
    IntPtr message;
    N.polyrpc_call_status(call, out code, out message);
    Check(code == 5 && Utf8(message) == "not here", "status out");
    e = Raises(() => { IntPtr sc; N.polyrpc_server_take_call(server, serverTag, out sc); });
    Check(e != null && e.Code == (int)polyrpc_error_t.POLYRPC_ERROR_NOT_FOUND, "taken once");

    N.polyrpc_call_destroy(call);
    N.polyrpc_channel_destroy(ch);
    N.polyrpc_server_destroy(server);
    N.polyrpc_cq_destroy(cq);
    N.polyrpc_buffer_destroy(buf);
    N.polyrpc_channel_credentials_destroy(ccreds);
    N.polyrpc_server_credentials_destroy(creds);
    N.polyrpc_shutdown(-1);
  }
}
