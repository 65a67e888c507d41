-- GET /users/me with a session cookie: wrk -s me.lua <url> -- '<cookie header value>'
package.path = debug.getinfo(1, "S").source:match("@(.*/)") .. "?.lua;" .. package.path
require "common"

function init(args)
  wrk.method = "GET"
  wrk.path = "/users/me"
  wrk.headers["Cookie"] = args[1]
end
