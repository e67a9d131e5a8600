-- wrk: alternate /slow and /cpu on each connection (prefork_app.py).
local n = 0
request = function()
  n = n + 1
  if n % 2 == 0 then
    return wrk.format("GET", "/cpu")
  end
  return wrk.format("GET", "/slow")
end
