// FileDescriptorSetDatabase (polyrpc++/reflection.hpp): the core's own index of serialized
// FileDescriptorProtos, with files written here by hand with the wire writer: symbols of every
// kind (nested messages, fields, oneofs, enums and their values, services, methods,
// extensions), dependencies, replacement of a file, all-or-nothing sets, malformed bytes.
#include <gtest/gtest.h>

#include "polyrpc++/reflection.hpp"
#include "services/proto_wire.h"

namespace polyrpc {
namespace {

std::string Named(const std::string& name) {
  wire::Writer w;
  w.Bytes(1, name);
  return w.Take();
}

// package pkg; import dep; message Outer { int32 f = 1; oneof choice {}; message Inner {}
// enum Color { RED = 0; } extend pkg.Base { int32 ext = 100; } } enum Top { TOP_A = 0; }
// service Svc { rpc Call; } extend pkg.Base { int32 top_ext = 7; }
std::string File(const std::string& name, const std::string& dep = "") {
  wire::Writer inner_enum;
  inner_enum.Bytes(1, "Color");
  inner_enum.Bytes(2, Named("RED"));
  wire::Writer nested_ext;
  nested_ext.Bytes(1, "ext");
  nested_ext.Bytes(2, ".pkg.Base");
  nested_ext.Int(3, 100);
  wire::Writer outer;
  outer.Bytes(1, "Outer");
  outer.Bytes(2, Named("f"));
  outer.Bytes(8, Named("choice"));
  outer.Bytes(3, Named("Inner"));
  outer.Bytes(4, inner_enum.str());
  outer.Bytes(6, nested_ext.str());
  wire::Writer top_enum;
  top_enum.Bytes(1, "Top");
  top_enum.Bytes(2, Named("TOP_A"));
  wire::Writer svc;
  svc.Bytes(1, "Svc");
  svc.Bytes(2, Named("Call"));
  wire::Writer top_ext;
  top_ext.Bytes(1, "top_ext");
  top_ext.Bytes(2, "pkg.Base");
  top_ext.Int(3, 7);
  wire::Writer f;
  f.Bytes(1, name);
  f.Bytes(4, outer.str());  // before the package: the package must still apply
  f.Bytes(2, "pkg");
  if (!dep.empty()) f.Bytes(3, dep);
  f.Bytes(5, top_enum.str());
  f.Bytes(6, svc.str());
  f.Bytes(7, top_ext.str());
  return f.Take();
}

TEST(ReflectionDatabase, IndexesEverySymbol) {
  FileDescriptorSetDatabase db;
  std::string error;
  ASSERT_TRUE(db.AddFile(File("pkg/a.proto"), &error)) << error;
  for (const char* symbol :
       {"pkg.Outer", "pkg.Outer.f", "pkg.Outer.choice", "pkg.Outer.Inner", "pkg.Outer.Color",
        "pkg.Outer.RED", "pkg.Outer.ext", "pkg.Top", "pkg.TOP_A", "pkg.Svc", "pkg.Svc.Call",
        "pkg.top_ext", ".pkg.Svc"}) {
    std::string file;
    EXPECT_TRUE(db.FindFileContainingSymbol(symbol, &file)) << symbol;
    EXPECT_EQ(file, "pkg/a.proto") << symbol;
  }
  std::string file;
  EXPECT_FALSE(db.FindFileContainingSymbol("pkg.Nope", &file));
  EXPECT_FALSE(db.FindFileContainingSymbol("Outer", &file));
  EXPECT_TRUE(db.FindFileContainingExtension("pkg.Base", 100, &file));
  EXPECT_TRUE(db.FindFileContainingExtension(".pkg.Base", 7, &file));
  EXPECT_FALSE(db.FindFileContainingExtension("pkg.Base", 8, &file));
  EXPECT_EQ(db.ServiceNames(), std::vector<std::string>{"pkg.Svc"});
  std::string bytes;
  ASSERT_TRUE(db.FindFileByName("pkg/a.proto", &bytes));
  EXPECT_EQ(bytes, File("pkg/a.proto"));
}

TEST(ReflectionDatabase, ExtensionNumbersOfAKnownType) {
  FileDescriptorSetDatabase db;
  // pkg.Base itself is a message of another file.
  wire::Writer base;
  base.Bytes(1, "Base");
  wire::Writer f;
  f.Bytes(1, "pkg/base.proto");
  f.Bytes(2, "pkg");
  f.Bytes(4, base.str());
  ASSERT_TRUE(db.AddFile(f.str()));
  ASSERT_TRUE(db.AddFile(File("pkg/a.proto", "pkg/base.proto")));
  std::vector<int32_t> numbers;
  ASSERT_TRUE(db.FindAllExtensionNumbers("pkg.Base", &numbers));
  EXPECT_EQ(numbers, (std::vector<int32_t>{7, 100}));
  numbers.clear();
  EXPECT_FALSE(db.FindAllExtensionNumbers("pkg.Nope", &numbers));
}

TEST(ReflectionDatabase, ASecondFileOfTheSameNameReplacesTheFirst) {
  FileDescriptorSetDatabase db;
  ASSERT_TRUE(db.AddFile(File("pkg/a.proto")));
  wire::Writer other;
  other.Bytes(1, "pkg/a.proto");
  other.Bytes(2, "other");
  wire::Writer svc;
  svc.Bytes(1, "Two");
  other.Bytes(6, svc.str());
  ASSERT_TRUE(db.AddFile(other.str()));
  std::string file;
  EXPECT_FALSE(db.FindFileContainingSymbol("pkg.Svc", &file));
  EXPECT_TRUE(db.FindFileContainingSymbol("other.Two", &file));
  EXPECT_EQ(db.ServiceNames(), std::vector<std::string>{"other.Two"});
}

TEST(ReflectionDatabase, FileSetsAreAllOrNothing) {
  FileDescriptorSetDatabase db;
  wire::Writer good;
  good.Bytes(1, File("pkg/a.proto"));
  good.Bytes(1, File("pkg/b.proto"));
  std::string error;
  ASSERT_TRUE(db.AddFileSet(good.str(), &error)) << error;
  std::string bytes;
  EXPECT_TRUE(db.FindFileByName("pkg/b.proto", &bytes));

  FileDescriptorSetDatabase db2;
  wire::Writer bad;
  bad.Bytes(1, File("pkg/c.proto"));
  bad.Bytes(1, std::string("\x0a\x09pkg/d", 7));  // a name longer than its bytes
  EXPECT_FALSE(db2.AddFileSet(bad.str(), &error));
  EXPECT_FALSE(error.empty());
  EXPECT_FALSE(db2.FindFileByName("pkg/c.proto", &bytes));
  wire::Writer nameless;
  nameless.Bytes(1, std::string("\x12\x03pkg", 5));
  EXPECT_FALSE(db2.AddFileSet(nameless.str(), &error));
  EXPECT_NE(error.find("without a name"), std::string::npos) << error;
  EXPECT_FALSE(db2.AddFile(std::string("\xff\xff\xff", 3), &error));
}

TEST(ProtoWire, ReaderRejectsTruncatedInput) {
  wire::Reader r(std::string_view("\x08", 1));  // a varint field without its value
  int field, type;
  ASSERT_TRUE(r.Next(&field, &type));
  uint64_t v;
  EXPECT_FALSE(r.ReadVarint(&v));
  EXPECT_FALSE(r.ok());
  wire::Reader g(std::string_view("\x0b", 1));  // a group (wire type 3) cannot be skipped
  ASSERT_TRUE(g.Next(&field, &type));
  EXPECT_FALSE(g.Skip(type));
  wire::Writer w;
  w.Int(1, -1);  // int32 -1: ten bytes, as protobuf writes it
  EXPECT_EQ(w.str().size(), 11u);
}

}  // namespace
}  // namespace polyrpc
