// Native API errors (polyrpc_error_t) in .NET's vocabulary: bad arguments are ArgumentException,
// everything else InvalidOperationException, each with the C ABI's message.
using System;
using PolyRpc.Native;

namespace PolyRpc.Core.Internal
{
    internal static class Errors
    {
        internal static Exception Translate(NativeException e, string what)
        {
            string message = what + ": " + e.Message + " (" + e.Name + ")";
            switch (e.Code)
            {
                case (int)polyrpc_error_t.POLYRPC_ERROR_INVALID_ARGUMENT:
                    return new ArgumentException(message, e);
                case (int)polyrpc_error_t.POLYRPC_ERROR_NO_MEMORY:
                    return new OutOfMemoryException(message, e);
                default:
                    return new InvalidOperationException(message, e);
            }
        }
    }
}
