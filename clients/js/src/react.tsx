// React bindings: <VibePassProvider> runs one VibePass for the app, useVibePass() reads
// it, <VibePassTimer/> shows the spec's timer text.

import { type ReactNode, createContext, useContext, useEffect, useMemo, useState, useSyncExternalStore } from 'react'
import { type PassState, type SupabaseLike, VibePass, type VibePassOptions, timerText } from './presence.js'

const Context = createContext<VibePass | null>(null)

/** The props of VibePassProvider: a supabase-js client (and options), or a VibePass of your own. */
export type VibePassProviderProps =
  | { supabase: SupabaseLike, options?: VibePassOptions, children?: ReactNode }
  | { client: VibePass, children?: ReactNode }

/**
 * Runs one VibePass for everything below it: started when mounted (it checks in), stopped
 * when unmounted (it does not check out: the page going away and signing out do that).
 * The supabase client and options are read once, when it mounts.
 */
export function VibePassProvider (props: VibePassProviderProps): ReactNode {
  const [client] = useState(() => 'client' in props ? props.client : new VibePass(props.supabase, props.options))
  useEffect(() => {
    void client.start()
    return () => client.stop()
  }, [client])
  return <Context.Provider value={client}>{props.children}</Context.Provider>
}

/** What useVibePass() gives: the pass's state and the actions. */
export interface VibePassHook extends PassState {
  /** Checks in now (also after checking out). */
  checkin: () => Promise<PassState>
  /** Checks out now; no new pass is made by itself until checkin() or another sign-in. */
  checkout: () => Promise<PassState>
  /** Asks the server now. */
  refresh: () => Promise<PassState>
  /** The VibePass itself. */
  client: VibePass
}

/** The pass of the VibePassProvider above, re-rendering on every change (each minute, too). */
export function useVibePass (): VibePassHook {
  const client = useContext(Context)
  if (client === null) throw new Error('useVibePass() needs a <VibePassProvider> above it')
  const state = useSyncExternalStore(client.subscribe, () => client.state, () => client.state)
  return useMemo(() => ({ ...state, checkin: client.checkin, checkout: client.checkout, refresh: client.refresh, client }), [state, client])
}

/**
 * The spec's timer: "🎫 Vibe Pass: N min remaining" (0 included) in a div of class
 * session-timer, or what the person needs to know when there is no pass; nothing while
 * loading. A failed request keeps what it showed.
 */
export function VibePassTimer ({ className = 'session-timer' }: { className?: string }): ReactNode {
  const text = timerText(useVibePass())
  return text === null ? null : <div className={className}>{text}</div>
}
