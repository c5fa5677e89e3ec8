// vibepass from JavaScript, both ways (the README's supabase-js snippet).
//
// 1. Call the session functions directly through Supabase (PostgREST) with
//    supabase-js: `supabase.rpc('checkin')` and friends. The database checks who
//    is calling from the user's access token; no proxy is involved.
// 2. Call the vibepass proxy with fetch: the same answers, in the spec's shape.
import { createClient } from '@supabase/supabase-js'

// supabaseForUser makes a client that calls as the user whose access token it is
// given. In a browser app that signs in with supabase-js, use your existing client
// instead: it sends the signed-in user's token by itself.
export function supabaseForUser (supabaseUrl, anonKey, accessToken) {
  return createClient(supabaseUrl, anonKey, { accessToken: async () => accessToken })
}

// checkin makes or renews the user's pass: { session_id, expires_at, expires_in_minutes }.
export async function checkin (supabase) {
  const { data, error } = await supabase.rpc('checkin')
  if (error) throw new Error(`checkin: ${error.message}`)
  return data
}

// sessionStatus returns the live pass { session_id, checked_in_at, expires_at,
// minutes_remaining }, or null when the user has none.
export async function sessionStatus (supabase) {
  const { data, error } = await supabase.rpc('session_status')
  if (error) throw new Error(`session_status: ${error.message}`)
  return data
}

// checkout ends the live pass: { session_id, ended_at }, or null when there was none.
export async function checkout (supabase) {
  const { data, error } = await supabase.rpc('checkout')
  if (error) throw new Error(`checkout: ${error.message}`)
  return data
}

// callProxy calls one of the proxy's user endpoints, e.g.
// callProxy('http://127.0.0.1:3000', token, 'POST', '/api/checkin'), and returns
// its answer ({ success: true, ... }); a failure throws with the proxy's message.
export async function callProxy (proxyUrl, accessToken, method, path) {
  const response = await fetch(proxyUrl + path, {
    method,
    headers: { Authorization: `Bearer ${accessToken}` }
  })
  const result = await response.json()
  if (!result.success) throw new Error(`${method} ${path}: ${response.status} ${result.error}`)
  return result
}
