-- wrk script for bench:ocsp. OCSP_BODIES: a file of DER requests, one per line as hex. OCSP_MODE: post | get | nonce.
-- nonce: every request gets 16 fresh random nonce octets at OCSP_NONCE_AT (0-based) of the template (the first body).
local mode = os.getenv("OCSP_MODE") or "post"
local prefix = os.getenv("OCSP_PATH") or "/ocsp"
local bodies, paths = {}, {}
local function unhex(h) return (h:gsub("..", function(c) return string.char(tonumber(c, 16)) end)) end
local b64chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local function b64(data)
  return ((data:gsub(".", function(x)
    local r, b = "", x:byte()
    for i = 8, 1, -1 do r = r .. (b % 2 ^ i - b % 2 ^ (i - 1) > 0 and "1" or "0") end
    return r
  end) .. "0000"):gsub("%d%d%d?%d?%d?%d?", function(x)
    if #x < 6 then return "" end
    local c = 0
    for i = 1, 6 do c = c + (x:sub(i, i) == "1" and 2 ^ (6 - i) or 0) end
    return b64chars:sub(c + 1, c + 1)
  end) .. ({ "", "==", "=" })[#data % 3 + 1])
end
local function urlencode(s) return (s:gsub("[+/=]", function(c) return string.format("%%%02X", c:byte()) end)) end
for line in io.lines(os.getenv("OCSP_BODIES")) do
  local body = unhex(line)
  bodies[#bodies + 1] = body
  paths[#paths + 1] = prefix .. "/" .. urlencode(b64(body))
end
local nonceAt = tonumber(os.getenv("OCSP_NONCE_AT") or "0")
local headers = { ["Content-Type"] = "application/ocsp-request" }
local i = 0

function init(args) math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16) % 100000) end

function request()
  i = i + 1
  if mode == "get" then return wrk.format("GET", paths[i % #paths + 1]) end
  if mode == "nonce" then
    local t = bodies[1]
    local n = {}
    for k = 1, 16 do n[k] = string.char(math.random(0, 255)) end
    return wrk.format("POST", prefix, headers, t:sub(1, nonceAt) .. table.concat(n) .. t:sub(nonceAt + 17))
  end
  return wrk.format("POST", prefix, headers, bodies[i % #bodies + 1])
end
