// The build's NuGet layout is complete, and PolyRpc.dll stays within .NET Standard 2.0's API
// (every type it references is one that netstandard.dll forwards), so the same code builds for
// netstandard2.0 with the .NET SDK.
using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Xml;
using Mono.Cecil;
using NUnit.Framework;

namespace PolyRpc.Tests
{
    [TestFixture]
    public class PackageTest
    {
        static string PackageDir { get { return Path.Combine(TestEnv.BinDir, "..", "package"); } }

        [Test]
        public void EveryFileTheNuspecListsExists()
        {
            var nuspec = Path.Combine(PackageDir, "PolyRpc.nuspec");
            Assert.IsTrue(File.Exists(nuspec), nuspec);
            var doc = new XmlDocument();
            doc.Load(nuspec);
            var ns = new XmlNamespaceManager(doc.NameTable);
            ns.AddNamespace("n", "http://schemas.microsoft.com/packaging/2013/05/nuspec.xsd");
            var files = doc.SelectNodes("/n:package/n:files/n:file", ns);
            Assert.GreaterOrEqual(files.Count, 5);
            var srcs = new List<string>();
            foreach (XmlElement f in files)
            {
                var src = f.GetAttribute("src");
                srcs.Add(src);
                Assert.IsTrue(File.Exists(Path.Combine(PackageDir, src)), "listed in the nuspec but missing: " + src);
            }
            CollectionAssert.Contains(srcs, "runtimes/linux-x64/native/libpolyrpc_csharp.so");
            CollectionAssert.Contains(srcs, "runtimes/linux-x64/native/libpolyrpc.so.1");
            var version = doc.SelectSingleNode("/n:package/n:metadata/n:version", ns).InnerText;
            Assert.AreEqual(PolyRpc.Native.PolyRpcNative.polyrpc_version(), version, "package version = libpolyrpc's");
            Assert.AreEqual(version + ".0", typeof(PolyRpc.Core.Channel).Assembly.GetName().Version.ToString(),
                            "assembly version = package version");
            Assert.AreEqual("README.md", doc.SelectSingleNode("/n:package/n:metadata/n:readme", ns).InnerText);
        }

        [Test]
        public void PackagedAssemblyIsTheBuiltOne()
        {
            var built = File.ReadAllBytes(Path.Combine(TestEnv.BinDir, "PolyRpc.dll"));
            var packed = File.ReadAllBytes(Path.Combine(PackageDir, "lib", "net461", "PolyRpc.dll"));
            CollectionAssert.AreEqual(built, packed);
        }

        [Test]
        public void OnlyNetStandardTypesAreReferenced()
        {
            var facade = "/usr/lib/mono/4.5/Facades/netstandard.dll";
            Assert.IsTrue(File.Exists(facade), facade);
            var netstandard = new HashSet<string>(ModuleDefinition.ReadModule(facade).ExportedTypes.Select(t => t.FullName));
            var module = ModuleDefinition.ReadModule(Path.Combine(TestEnv.BinDir, "PolyRpc.dll"));
            var assemblies = module.AssemblyReferences.Select(a => a.Name).ToList();
            CollectionAssert.IsSubsetOf(assemblies, new[] { "mscorlib", "System", "System.Core" },
                                        "PolyRpc.dll references " + string.Join(", ", assemblies));
            var outside = module.GetTypeReferences()
                .Where(t => !(t.Scope is ModuleDefinition))
                .Select(t => t.FullName)
                .Where(n => !netstandard.Contains(n))
                .ToList();
            CollectionAssert.IsEmpty(outside, "types outside .NET Standard 2.0: " + string.Join(", ", outside));
            Assert.Greater(module.GetTypeReferences().Count(), 50, "the check saw the references");
        }

        [Test]
        public void PublicApiIsPolyRpcCore()
        {
            var asm = typeof(PolyRpc.Core.Channel).Assembly;
            var namespaces = asm.GetExportedTypes().Select(t => t.Namespace).Distinct().OrderBy(n => n).ToList();
            CollectionAssert.AreEqual(new[] { "PolyRpc.Core", "PolyRpc.Core.Dynamic", "PolyRpc.Core.Interceptors" }, namespaces,
                                      "the raw SWIG layer (PolyRpc.Native) must stay internal");
        }
    }
}
