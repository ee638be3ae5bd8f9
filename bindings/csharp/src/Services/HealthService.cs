// The health service of a server (Server.EnableHealth): grpc.health.v1.Health, Check and Watch,
// answered by the polyrpc core itself; Set changes a status at run time.
using System;
using PolyRpc.Core.Internal;
using PolyRpc.Native;
using N = PolyRpc.Native.PolyRpcNative;

namespace PolyRpc.Core
{
    /// <summary>grpc.health.v1.HealthCheckResponse.ServingStatus (the wire values, as
    /// Grpc.Health.V1.HealthCheckResponse.Types.ServingStatus).</summary>
    public enum HealthStatus
    {
        Unknown = 0,
        Serving = 1,
        NotServing = 2,
        /// <summary>No status: the service is forgotten (Check answers NOT_FOUND).</summary>
        ServiceUnknown = 3,
    }

    /// <summary>The health statuses of a server, from Server.EnableHealth(). Thread-safe:
    /// Set may be called from any thread at any time, and every Watch of the service hears it
    /// at once. The server as a whole is "": it starts Serving; other services have no status
    /// until set. When the server shuts down, every status turns NotServing and later changes
    /// are ignored.</summary>
    public sealed class HealthService
    {
        readonly ServerHandle handle;

        internal HealthService(ServerHandle handle) { this.handle = handle; }

        /// <summary>Sets the status of service ("" for the whole server).</summary>
        public void Set(string service, HealthStatus status)
        {
            if (service == null) throw new ArgumentNullException("service");
            if (status < HealthStatus.Unknown || status > HealthStatus.ServiceUnknown)
                throw new ArgumentOutOfRangeException("status");
            IntPtr s = handle.Use();
            try
            {
                N.polyrpc_server_set_health_status(s, service, (int)status);
            }
            catch (NativeException e)
            {
                throw Errors.Translate(e, "cannot set the health status");
            }
            finally
            {
                handle.Done();
            }
        }

        /// <summary>Forgets service: Check answers NOT_FOUND, Watch reports ServiceUnknown.</summary>
        public void Clear(string service) { Set(service, HealthStatus.ServiceUnknown); }
    }
}
