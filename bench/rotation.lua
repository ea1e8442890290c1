-- wrk script for the JWKS rotation run of bench/gateway-load.sh: every request carries the
-- provider's current token until SWITCH_AT (Unix seconds), then the token of its next key, as
-- clients do when the provider rotates. The provider publishes the next key shortly before.
local old_token, new_token = os.getenv("OLD_TOKEN"), os.getenv("NEW_TOKEN")
local switch_at = tonumber(os.getenv("SWITCH_AT"))
local before, after

function request()
  if os.time() >= switch_at then
    after = after or wrk.format(nil, nil, { ["Authorization"] = "Bearer " .. new_token })
    return after
  end
  before = before or wrk.format(nil, nil, { ["Authorization"] = "Bearer " .. old_token })
  return before
end
