#include "channel/service_config.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <set>

#include "protocol/json.h"

namespace polyrpc {

namespace {

bool Fail(std::string* error, std::string what) {
  *error = std::move(what);
  return false;
}

bool ExpectType(const Json& v, Json::Type t, const std::string& where, std::string* error) {
  if (v.type() == t) return true;
  return Fail(error, where + ": expected " + JsonTypeName(t) + ", got " + JsonTypeName(v.type()));
}

bool DurationField(const Json& obj, const char* key, const std::string& where, int64_t* ns,
                   bool* present, std::string* error) {
  *present = false;
  const Json* v = obj.Find(key);
  if (v == nullptr) return true;
  if (!ExpectType(*v, Json::kString, where + "." + key, error)) return false;
  if (!ParseJsonDuration(v->string_value(), ns)) {
    return Fail(error, where + "." + key + ": invalid duration \"" + v->string_value() + "\"");
  }
  *present = true;
  return true;
}

// An integer field, as a JSON number or (proto3 JSON's 64-bit form) a decimal string.
bool IntField(const Json& obj, const char* key, const std::string& where, int64_t* out,
              bool* present, std::string* error) {
  *present = false;
  const Json* v = obj.Find(key);
  if (v == nullptr) return true;
  std::string text;
  if (v->is_number()) {
    text = v->number_text();
  } else if (v->is_string()) {
    text = v->string_value();
  } else {
    return Fail(error, where + "." + key + ": expected an integer");
  }
  if (text.empty() || text.size() > 18 ||
      text.find_first_not_of("0123456789", text[0] == '-' ? 1 : 0) != std::string::npos) {
    return Fail(error, where + "." + key + ": expected an integer, got " + text);
  }
  *out = std::stoll(text);
  *present = true;
  return true;
}

bool StatusCodesField(const Json& obj, const char* key, const std::string& where, uint32_t* out,
                      bool* present, std::string* error) {
  *present = false;
  *out = 0;
  const Json* v = obj.Find(key);
  if (v == nullptr) return true;
  if (!ExpectType(*v, Json::kArray, where + "." + key, error)) return false;
  for (const Json& c : v->array()) {
    int code = -1;
    if (c.is_string()) {
      for (int i = 0; i <= 16; ++i) {
        if (c.string_value() == StatusCodeName(static_cast<StatusCode>(i))) code = i;
      }
    } else if (c.is_number() && c.number() == std::floor(c.number()) && c.number() >= 0 &&
               c.number() <= 16) {
      code = static_cast<int>(c.number());
    }
    if (code < 0) {
      return Fail(error, where + "." + key + ": unknown status code " +
                             (c.is_string() ? "\"" + c.string_value() + "\"" : c.number_text()));
    }
    *out |= 1u << code;
  }
  *present = true;
  return true;
}

bool ParseRetryPolicy(const Json& j, const std::string& where, RetryPolicy* p,
                      std::string* error) {
  if (!ExpectType(j, Json::kObject, where, error)) return false;
  int64_t attempts = 0;
  bool present = false;
  if (!IntField(j, "maxAttempts", where, &attempts, &present, error)) return false;
  if (!present || attempts < 2) return Fail(error, where + ".maxAttempts: required, at least 2");
  p->max_attempts = static_cast<int>(std::min<int64_t>(attempts, 5));  // gRPC's cap
  if (!DurationField(j, "initialBackoff", where, &p->initial_backoff_ns, &present, error)) {
    return false;
  }
  if (!present || p->initial_backoff_ns <= 0) {
    return Fail(error, where + ".initialBackoff: required, above 0");
  }
  if (!DurationField(j, "maxBackoff", where, &p->max_backoff_ns, &present, error)) return false;
  if (!present || p->max_backoff_ns <= 0) {
    return Fail(error, where + ".maxBackoff: required, above 0");
  }
  const Json* m = j.Find("backoffMultiplier");
  if (m == nullptr || !m->is_number() || m->number() <= 0) {
    return Fail(error, where + ".backoffMultiplier: required, a number above 0");
  }
  p->backoff_multiplier = m->number();
  if (!StatusCodesField(j, "retryableStatusCodes", where, &p->retryable_codes, &present, error)) {
    return false;
  }
  if (!present || p->retryable_codes == 0) {
    return Fail(error, where + ".retryableStatusCodes: required, not empty");
  }
  return true;
}

bool ParseHedgingPolicy(const Json& j, const std::string& where, HedgingPolicy* p,
                        std::string* error) {
  if (!ExpectType(j, Json::kObject, where, error)) return false;
  int64_t attempts = 0;
  bool present = false;
  if (!IntField(j, "maxAttempts", where, &attempts, &present, error)) return false;
  if (!present || attempts < 2) return Fail(error, where + ".maxAttempts: required, at least 2");
  p->max_attempts = static_cast<int>(std::min<int64_t>(attempts, 5));
  if (!DurationField(j, "hedgingDelay", where, &p->hedging_delay_ns, &present, error)) {
    return false;
  }
  return StatusCodesField(j, "nonFatalStatusCodes", where, &p->non_fatal_codes, &present, error);
}

bool ParseMethodConfig(const Json& j, const std::string& where, MethodConfig* mc,
                       std::string* error) {
  if (!ExpectType(j, Json::kObject, where, error)) return false;
  bool present = false;
  if (!DurationField(j, "timeout", where, &mc->timeout_ns, &present, error)) return false;
  if (!present) mc->timeout_ns = -1;
  if (const Json* w = j.Find("waitForReady")) {
    if (!ExpectType(*w, Json::kBool, where + ".waitForReady", error)) return false;
    mc->wait_for_ready = w->bool_value() ? 1 : 0;
  }
  if (!IntField(j, "maxRequestMessageBytes", where, &mc->max_request_bytes, &present, error)) {
    return false;
  }
  if (!present) mc->max_request_bytes = -1;
  if (!IntField(j, "maxResponseMessageBytes", where, &mc->max_response_bytes, &present, error)) {
    return false;
  }
  if (!present) mc->max_response_bytes = -1;
  const Json* retry = j.Find("retryPolicy");
  const Json* hedging = j.Find("hedgingPolicy");
  if (retry != nullptr && hedging != nullptr) {
    return Fail(error, where + ": retryPolicy and hedgingPolicy are mutually exclusive");
  }
  if (retry != nullptr) {
    RetryPolicy p;
    if (!ParseRetryPolicy(*retry, where + ".retryPolicy", &p, error)) return false;
    mc->retry = p;
  }
  if (hedging != nullptr) {
    HedgingPolicy p;
    if (!ParseHedgingPolicy(*hedging, where + ".hedgingPolicy", &p, error)) return false;
    mc->hedging = p;
  }
  return true;
}

}  // namespace

bool ParseJsonDuration(std::string_view s, int64_t* ns) {
  if (s.size() < 2 || s.back() != 's') return false;
  s.remove_suffix(1);
  size_t dot = s.find('.');
  std::string_view whole = s.substr(0, dot);
  std::string_view frac = dot == std::string_view::npos ? std::string_view() : s.substr(dot + 1);
  if (whole.empty() || whole.size() > 11 || (dot != std::string_view::npos && frac.empty()) ||
      frac.size() > 9) {
    return false;
  }
  int64_t secs = 0;
  for (char c : whole) {
    if (c < '0' || c > '9') return false;
    secs = secs * 10 + (c - '0');
  }
  int64_t nanos = 0;
  for (size_t i = 0; i < 9; ++i) {
    char c = i < frac.size() ? frac[i] : '0';
    if (c < '0' || c > '9') return false;
    nanos = nanos * 10 + (c - '0');
  }
  if (secs > 315576000000LL / 100) return false;  // far beyond any useful timeout
  *ns = secs * 1000000000LL + nanos;
  return true;
}

bool IsSupportedLbPolicy(std::string_view name) {
  return name == "pick_first" || name == "round_robin";
}

std::shared_ptr<const ServiceConfig> ServiceConfig::Parse(std::string_view text,
                                                          std::string* error) {
  Json root;
  std::string err;
  if (!Json::Parse(text, &root, &err)) {
    *error = "service config: " + err;
    return nullptr;
  }
  return FromJson(root, std::string(text), error);
}

std::shared_ptr<const ServiceConfig> ServiceConfig::FromJson(const Json& root, std::string text,
                                                             std::string* error) {
  auto sc = std::make_shared<ServiceConfig>();
  sc->json_ = std::move(text);
  if (!ExpectType(root, Json::kObject, "service config", error)) return nullptr;

  if (const Json* lbc = root.Find("loadBalancingConfig")) {
    if (!ExpectType(*lbc, Json::kArray, "loadBalancingConfig", error)) return nullptr;
    for (const Json& entry : lbc->array()) {
      if (!entry.is_object() || entry.object().size() != 1) {
        *error = "loadBalancingConfig: each entry must be an object with one policy";
        return nullptr;
      }
      const std::string& name = entry.object()[0].first;
      if (IsSupportedLbPolicy(name)) {
        sc->lb_policy_ = name;
        break;
      }
    }
    if (sc->lb_policy_.empty() && !lbc->array().empty()) {
      *error = "loadBalancingConfig: no supported policy (pick_first, round_robin)";
      return nullptr;
    }
  }
  if (const Json* lbp = root.Find("loadBalancingPolicy"); lbp && sc->lb_policy_.empty()) {
    if (!ExpectType(*lbp, Json::kString, "loadBalancingPolicy", error)) return nullptr;
    std::string name = lbp->string_value();
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (!IsSupportedLbPolicy(name)) {
      *error = "loadBalancingPolicy: unknown policy \"" + lbp->string_value() + "\"";
      return nullptr;
    }
    sc->lb_policy_ = name;
  }

  if (const Json* rt = root.Find("retryThrottling")) {
    if (!ExpectType(*rt, Json::kObject, "retryThrottling", error)) return nullptr;
    const Json* mt = rt->Find("maxTokens");
    const Json* tr = rt->Find("tokenRatio");
    if (mt == nullptr || !mt->is_number() || mt->number() <= 0 || mt->number() > 1000 ||
        mt->number() != std::floor(mt->number())) {
      *error = "retryThrottling.maxTokens: required, an integer in (0, 1000]";
      return nullptr;
    }
    if (tr == nullptr || !tr->is_number() || tr->number() <= 0) {
      *error = "retryThrottling.tokenRatio: required, a number above 0";
      return nullptr;
    }
    RetryThrottling t;
    t.max_tokens = mt->number();
    t.token_ratio = std::floor(tr->number() * 1000) / 1000;  // gRPC keeps three decimals
    if (t.token_ratio <= 0) {
      *error = "retryThrottling.tokenRatio: below 0.001";
      return nullptr;
    }
    sc->throttling_ = t;
  }

  if (const Json* mcs = root.Find("methodConfig")) {
    if (!ExpectType(*mcs, Json::kArray, "methodConfig", error)) return nullptr;
    for (size_t i = 0; i < mcs->array().size(); ++i) {
      const Json& j = mcs->array()[i];
      std::string where = "methodConfig[" + std::to_string(i) + "]";
      auto mc = std::make_shared<MethodConfig>();
      if (!ParseMethodConfig(j, where, mc.get(), error)) return nullptr;
      const Json* names = j.Find("name");
      if (names == nullptr) continue;  // applies to nothing
      if (!ExpectType(*names, Json::kArray, where + ".name", error)) return nullptr;
      for (size_t k = 0; k < names->array().size(); ++k) {
        const Json& n = names->array()[k];
        std::string nw = where + ".name[" + std::to_string(k) + "]";
        if (!ExpectType(n, Json::kObject, nw, error)) return nullptr;
        std::string service, method;
        if (const Json* s = n.Find("service")) {
          if (!ExpectType(*s, Json::kString, nw + ".service", error)) return nullptr;
          service = s->string_value();
        }
        if (const Json* m = n.Find("method")) {
          if (!ExpectType(*m, Json::kString, nw + ".method", error)) return nullptr;
          method = m->string_value();
        }
        if (service.empty() && !method.empty()) {
          *error = nw + ": a method needs its service";
          return nullptr;
        }
        std::string key = service.empty() ? "" : service + "/" + method;
        if (!sc->by_name_.emplace(key, mc.get()).second) {
          *error = nw + ": duplicate name \"" + key + "\"";
          return nullptr;
        }
      }
      sc->configs_.push_back(std::move(mc));
    }
  }
  return sc;
}

const MethodConfig* ServiceConfig::Find(std::string_view path) const {
  if (by_name_.empty()) return nullptr;
  if (!path.empty() && path[0] == '/') path.remove_prefix(1);
  std::string key(path);
  auto it = by_name_.find(key);
  if (it != by_name_.end()) return it->second;
  size_t slash = key.find('/');
  if (slash != std::string::npos) {
    it = by_name_.find(key.substr(0, slash + 1));
    if (it != by_name_.end()) return it->second;
  }
  it = by_name_.find("");
  return it == by_name_.end() ? nullptr : it->second;
}

}  // namespace polyrpc
