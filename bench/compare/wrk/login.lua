-- POST /login, rotating over COUNT accounts PREFIX0@example.com .. PREFIX<COUNT-1>@example.com
-- that share one password: wrk -s login.lua <url> -- PREFIX COUNT PASSWORD
-- Each thread starts at a different account and walks the list in turn, so consecutive logins hit
-- different accounts (no per-account limit is met before every account has had its turn).
package.path = debug.getinfo(1, "S").source:match("@(.*/)") .. "?.lua;" .. package.path
require "common"

local bodies = {}
local next_index = 0

function init(args)
  local prefix, count, password = args[1], tonumber(args[2]), args[3]
  for i = 0, count - 1 do
    bodies[i + 1] = string.format('{"email":"%s%d@example.com","password":"%s"}', prefix, i, password)
  end
  next_index = (id or 0) * math.floor(count / 8)
  wrk.method = "POST"
  wrk.path = "/login"
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  next_index = next_index % #bodies + 1
  return wrk.format(nil, nil, nil, bodies[next_index])
end
