// Runs vibepass.js both ways for one user and prints each answer as a JSON line
// ({"step": ..., "answer": ...}), for the Go test and for trying it by hand:
//
//   SUPABASE_URL=http://127.0.0.1:54321 SUPABASE_ANON_KEY=... ACCESS_TOKEN=... \
//   VIBEPASS_URL=http://127.0.0.1:3000 node --experimental-websocket examples/supabase-js/run.js
//
// VIBEPASS_URL is optional: without it only the supabase-js way runs. Node 20 needs
// --experimental-websocket (Node 22 has WebSocket built in): createClient sets up
// supabase-js's realtime client, which refuses to start without one.
import { callProxy, checkin, checkout, sessionStatus, supabaseForUser } from './vibepass.js'

function env (name) {
  const value = process.env[name]
  if (!value) throw new Error(`set ${name}`)
  return value
}

function print (step, answer) {
  console.log(JSON.stringify({ step, answer }))
}

const token = env('ACCESS_TOKEN')
const supabase = supabaseForUser(env('SUPABASE_URL'), env('SUPABASE_ANON_KEY'), token)
print('rpc checkin', await checkin(supabase))
print('rpc session_status', await sessionStatus(supabase))
print('rpc checkout', await checkout(supabase))
print('rpc session_status after checkout', await sessionStatus(supabase))

const proxyUrl = process.env.VIBEPASS_URL
if (proxyUrl) {
  print('proxy checkin', await callProxy(proxyUrl, token, 'POST', '/api/checkin'))
  print('proxy session', await callProxy(proxyUrl, token, 'GET', '/api/session'))
  print('proxy checkout', await callProxy(proxyUrl, token, 'POST', '/api/checkout'))
  print('proxy session after checkout', await callProxy(proxyUrl, token, 'GET', '/api/session'))
}
