-- GET /users/me with a credential:
--   wrk -s me.lua <url> -- '<cookie header value>'          (the Cookie header)
--   wrk -s me.lua <url> -- '<header name>' '<header value>'  (any header, e.g. Authorization)
package.path = debug.getinfo(1, "S").source:match("@(.*/)") .. "?.lua;" .. package.path
require "common"

function init(args)
  wrk.method = "GET"
  wrk.path = "/users/me"
  if args[2] then
    wrk.headers[args[1]] = args[2]
  else
    wrk.headers["Cookie"] = args[1]
  end
end
