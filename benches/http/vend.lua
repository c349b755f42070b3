-- POST /api/jwt/vend for one key. Set KEY (API key) and KEY_ID in the environment.
wrk.method = "POST"
wrk.headers["Authorization"] = os.getenv("KEY")
wrk.headers["Content-Type"] = "application/json"
wrk.body = string.format('{"claims":{"sub":"bench","aud":"api"},"keyId":"%s","timeToLiveInSeconds":300}', os.getenv("KEY_ID"))
