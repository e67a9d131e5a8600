-- wrk: alternate /slow and /fast on each connection.
local n = 0
request = function()
  n = n + 1
  if n % 2 == 0 then
    return wrk.format("GET", "/fast")
  end
  return wrk.format("GET", "/slow")
end
