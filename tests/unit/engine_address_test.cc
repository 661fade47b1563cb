// ParseEngineAddress: unix and TCP forms, refused addresses, and TLS from the
// docker environment.
#include "core/engine/engine_address.h"

#include <gtest/gtest.h>

namespace dkd::core {
namespace {

TEST(EngineAddressTest, ParsesUnixSocketForms) {
  auto a = ParseEngineAddress("unix:///var/run/docker.sock");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->scheme, EngineAddress::Scheme::kUnix);
  EXPECT_EQ(a->socket_path, "/var/run/docker.sock");
  EXPECT_EQ(a->ToString(), "unix:///var/run/docker.sock");
  auto shorthand = ParseEngineAddress("/tmp/d.sock");
  ASSERT_TRUE(shorthand.ok());
  EXPECT_EQ(shorthand->socket_path, "/tmp/d.sock");
  auto empty = ParseEngineAddress("");
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->socket_path, "/var/run/docker.sock");
}

TEST(EngineAddressTest, ParsesTcpIncludingIpv6) {
  auto a = ParseEngineAddress("tcp://10.0.0.5:2376/");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->scheme, EngineAddress::Scheme::kTcp);
  EXPECT_EQ(a->host, "10.0.0.5");
  EXPECT_EQ(a->port, 2376);
  auto v6 = ParseEngineAddress("tcp://[::1]:2375");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->ToString(), "tcp://[::1]:2375");
}

TEST(EngineAddressTest, RejectsBadAddressesWithTheRule) {
  for (const char* bad : {"http://x:1", "unix://relative.sock", "tcp://host", "tcp://host:0",
                          "tcp://host:70000", "tcp://:80", "tcp://[::1]2375"}) {
    auto a = ParseEngineAddress(bad);
    EXPECT_EQ(a.status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
  std::string long_path = "unix:///" + std::string(120, 'a');
  EXPECT_FALSE(ParseEngineAddress(long_path).ok());
}

TEST(EngineAddressTest, TlsComesFromTheDockerEnvironment) {
  setenv("DOCKER_TLS_VERIFY", "1", 1);
  setenv("DOCKER_CERT_PATH", "/etc/certs", 1);
  auto a = ParseEngineAddress("tcp://h:2376");
  ASSERT_TRUE(a.ok());
  ApplyTlsEnvironment(*a);
  EXPECT_TRUE(a->tls);
  EXPECT_TRUE(a->tls_verify);
  EXPECT_EQ(a->cert_dir, "/etc/certs");
  auto u = ParseEngineAddress("unix:///s.sock");
  ApplyTlsEnvironment(*u);
  EXPECT_FALSE(u->tls);
  unsetenv("DOCKER_TLS_VERIFY");
  unsetenv("DOCKER_CERT_PATH");
}

}  // namespace
}  // namespace dkd::core
