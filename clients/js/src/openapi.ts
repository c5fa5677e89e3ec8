// Code generated from proxy/openapi.json by examples/openapi_ts_test.go; DO NOT EDIT.
// After a change to the API: go test ./examples -run TestJSClientTypesMatchOpenAPI -update

/** The API's schemas (components.schemas). */
export interface Schemas {
  ActiveUser: {
    checked_in_at: Schemas["Timestamp"]
    display_name: string
    expires_at: Schemas["Timestamp"]
    /** True for a user who signed in anonymously (Supabase Auth's signInAnonymously) and has not linked an identity since. */
    is_anonymous: boolean
    /** Floats in [0, 1], always written with a decimal point. */
    preferences: Array<number>
    user_id: Schemas["UUID"]
  }
  ActiveUsersResponse: {
    count: number
    /** The feed position this list is consistent with: pass it to /api/model/events as after. */
    cursor?: string
    data: Array<Schemas["ActiveUser"]>
    success: true
    timestamp: Schemas["Timestamp"]
  }
  CheckinResponse: {
    data: {
      expires_at: Schemas["Timestamp"]
      expires_in_minutes: number
      session_id: Schemas["UUID"]
    }
    message: string
    success: true
  }
  /** The spec's error shape, plus code: a machine-readable cause (additive; the spec's clients read success and error). */
  Error: {
    code: "invalid_request" | "unauthorized" | "missing_token" | "invalid_token" | "token_expired" | "missing_api_key" | "forbidden" | "invalid_api_key" | "not_found" | "method_not_allowed" | "request_timeout" | "conflict" | "too_large" | "rate_limited" | "internal_error" | "not_implemented" | "unavailable" | "keys_unavailable" | "schema_missing" | "model_busy" | "upstream_timeout" | "session_not_found" | "anonymous_refused" | "feed_busy"
    /** A message for people, safe to show. */
    error: string
    success: false
  }
  MessageResponse: {
    message: string
    success: true
  }
  /** With a live pass: active true and data. Without: active false and message "No active session". */
  SessionResponse: {
    active: boolean
    data?: {
      checked_in_at: Schemas["Timestamp"]
      expires_at: Schemas["Timestamp"]
      minutes_remaining: number
      session_id: Schemas["UUID"]
    }
    message?: "No active session"
    success: true
  }
  /** ISO 8601 UTC, whole seconds. */
  Timestamp: string
  UUID: string
}

/** The user and model operations: method, path, and the request header that carries the credential. */
export const operations = {
  activeUsers: { method: "GET", path: "/api/model/active-users", credential: "X-API-Key" },
  checkin: { method: "POST", path: "/api/checkin", credential: "Authorization" },
  checkout: { method: "POST", path: "/api/checkout", credential: "Authorization" },
  events: { method: "GET", path: "/api/model/events", credential: "X-API-Key" },
  history: { method: "GET", path: "/api/model/history", credential: "X-API-Key" },
  sessionStatus: { method: "GET", path: "/api/session", credential: "Authorization" },
  summary: { method: "GET", path: "/api/model/summary", credential: "X-API-Key" },
} as const

/** The body of each operation's 200 answer. */
export interface Responses {
  activeUsers: Schemas["ActiveUsersResponse"]
  checkin: Schemas["CheckinResponse"]
  checkout: Schemas["MessageResponse"]
  events: string
  history: {
    minutes: Array<{
      at: Schemas["Timestamp"]
      count: number
    }>
    success: true
    timestamp: Schemas["Timestamp"]
  }
  sessionStatus: Schemas["SessionResponse"]
  summary: {
    count: number
    cursor: string
    mean: Array<number> | null
    success: true
    timestamp: Schemas["Timestamp"]
  }
}
