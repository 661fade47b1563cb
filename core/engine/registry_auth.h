// Registry credentials and their encoding for the engine's X-Registry-Auth and
// X-Registry-Config headers.
//
// Credentials are used for one engine call and never logged: nothing here
// formats them for humans, and error messages built from them name only the
// server address. Plain values; thread-compatible.
#pragma once

#include <string>

namespace dkd::core {

struct RegistryAuth {
  std::string username;
  std::string password;
  std::string server_address;
  std::string identity_token;
  std::string registry_token;

  bool empty() const {
    return username.empty() && password.empty() && identity_token.empty() && registry_token.empty();
  }
};

// base64url(JSON) as the engine expects in X-Registry-Auth ("e30=" for none).
std::string EncodeRegistryAuthHeader(const RegistryAuth& auth);

// base64url(JSON map server -> credentials) for X-Registry-Config (builds).
// `default_server` is used when auth.server_address is empty.
std::string EncodeRegistryConfigHeader(const RegistryAuth& auth, const std::string& default_server);

// Replaces every occurrence of the secrets in `auth` within `text` by "***",
// for text that may echo them (engine messages).
std::string RedactSecrets(std::string text, const RegistryAuth& auth);

}  // namespace dkd::core
