// Registry credentials (registry_auth.h): the X-Registry-Auth and
// X-Registry-Config encodings, and secrets redacted from text.
#include "core/engine/registry_auth.h"

#include "absl/strings/escaping.h"
#include "absl/strings/str_replace.h"
#include "nlohmann/json.hpp"

namespace dkd::core {
namespace {

// Go's base64.URLEncoding pads; absl's web-safe form does not.
std::string Base64Url(const std::string& raw) {
  std::string out;
  absl::WebSafeBase64Escape(raw, &out);
  while (out.size() % 4 != 0) out.push_back('=');
  return out;
}

nlohmann::json AuthJson(const RegistryAuth& a) {
  nlohmann::json j = nlohmann::json::object();
  if (!a.username.empty()) j["username"] = a.username;
  if (!a.password.empty()) j["password"] = a.password;
  if (!a.server_address.empty()) j["serveraddress"] = a.server_address;
  if (!a.identity_token.empty()) j["identitytoken"] = a.identity_token;
  if (!a.registry_token.empty()) j["registrytoken"] = a.registry_token;
  return j;
}

}  // namespace

std::string EncodeRegistryAuthHeader(const RegistryAuth& auth) {
  return Base64Url(AuthJson(auth).dump());
}

std::string EncodeRegistryConfigHeader(const RegistryAuth& auth,
                                       const std::string& default_server) {
  nlohmann::json j = nlohmann::json::object();
  if (!auth.empty()) {
    const std::string server = auth.server_address.empty() ? default_server : auth.server_address;
    j[server] = AuthJson(auth);
  }
  return Base64Url(j.dump());
}

std::string RedactSecrets(std::string text, const RegistryAuth& auth) {
  for (const std::string* secret : {&auth.password, &auth.identity_token, &auth.registry_token}) {
    if (secret->size() >= 3) text = absl::StrReplaceAll(text, {{*secret, "***"}});
  }
  return text;
}

}  // namespace dkd::core
