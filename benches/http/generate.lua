-- POST /api/key/generate with a unique name per request. Set ALG and KEY in the environment.
-- One wrk thread (-t1): every thread draws the same random numbers, so two threads send the
-- same names and half their requests are refused as duplicates.
local counter = 0
local alg = os.getenv("ALG") or "ES256"
local prefix = os.getenv("PREFIX") or "bench"
wrk.method = "POST"
wrk.headers["Authorization"] = os.getenv("KEY")
wrk.headers["Content-Type"] = "application/json"
request = function()
  counter = counter + 1
  local body = string.format('{"key":{"algorithm":"%s","name":"%s-%s-%d-%d"}}', alg, prefix, alg, math.random(1, 1000000000), counter)
  return wrk.format(nil, nil, nil, body)
end
