using System.Reflection;
using System.Runtime.CompilerServices;

[assembly: AssemblyTitle("PolyRpc")]
[assembly: AssemblyDescription("gRPC for .NET over polyrpc's C ABI (libpolyrpc), in the shape of Grpc.Core")]
[assembly: AssemblyCompany("polyrpc")]
[assembly: AssemblyProduct("polyrpc")]
// The tests read the live-handle counters; the conformance programs use two test hooks.
[assembly: InternalsVisibleTo("PolyRpc.Tests")]
[assembly: InternalsVisibleTo("PolyRpcInteropClient")]
[assembly: InternalsVisibleTo("PolyRpcInteropServer")]
[assembly: InternalsVisibleTo("PolyRpcExitCheck")]
