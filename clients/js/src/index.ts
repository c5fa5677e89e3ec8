// The vibepass client. In the browser: VibePass, presence that follows the app, with
// supabase-js (React bindings in 'vibepass/react'). For the model: ModelClient and its
// follow(). Every failure is a VibepassError.

export { VERSION } from './version.js'
export {
  AuthError, ClientCode, RateLimitError, ResponseError, UnavailableError, VibepassConnectionError, VibepassError,
  VibepassTimeoutError, type VibepassErrorInit,
} from './errors.js'
export type { FetchLike } from './http.js'
export {
  type AuthSession, type Clock, type PassState, type PassStatus, type SupabaseAuthLike, type SupabaseLike, VibePass,
  type VibePassOptions, systemClock, timerText,
} from './presence.js'
export {
  type ActiveUser, type ActiveUsers, type History, ModelClient, type ModelClientOptions, type ModelOperation, type Summary,
  type Unchanged, defaultAPIKey, defaultURL,
} from './model.js'
export { type FollowEvent, type FollowOptions, Follower, type Listed, type UserChanged, type UserLeft } from './follow.js'
export type { Responses, Schemas } from './openapi.js'
