import { catalogTranslator, type Locale } from '@ringkit/ui'

const en = {
  brand: 'RingKit Demo',
  tagline: 'Audio and video calls, on your own server.',
  signIn: 'Sign in',
  signUp: 'Create account',
  signInTitle: 'Welcome back',
  signUpTitle: 'Create your account',
  username: 'Username',
  displayName: 'Display name',
  password: 'Password',
  passwordHint: 'At least 8 characters',
  haveAccount: 'Already have an account?',
  noAccount: 'New here?',
  signOut: 'Sign out',
  contacts: 'Contacts',
  history: 'History',
  settings: 'Settings',
  search: 'Search by name',
  noMatches: 'Nobody matches “{q}”.',
  noContacts: 'Nobody else has signed up yet. Open this page in another browser and create a second account.',
  audioCallTo: 'Audio call {name}',
  videoCallTo: 'Video call {name}',
  noHistory: 'No calls yet. Call someone from Contacts.',
  loadMore: 'Load more',
  outgoing: 'Outgoing',
  incoming: 'Incoming',
  missed: 'Missed',
  today: 'Today',
  yesterday: 'Yesterday',
  language: 'Language',
  devices: 'Devices',
  showDeviceNames: 'Allow camera and microphone to see device names',
  account: 'Account',
  online: 'Online',
  connecting: 'Connecting…',
  offline: 'Offline',
  USERNAME_TAKEN: 'That username is taken.',
  BAD_CREDENTIALS: 'Wrong username or password.',
  TOO_MANY_ATTEMPTS: 'Too many attempts. Wait a minute and try again.',
  INVALID_PARAMS: 'Please check the fields: {detail}',
  NOT_SIGNED_IN: 'Please sign in.',
  UNKNOWN: 'Something went wrong ({code}).',
} satisfies Record<string, string>

export type DemoKey = keyof typeof en

const zhCN: Record<DemoKey, string> = {
  brand: 'RingKit 演示',
  tagline: '音视频通话，运行在你自己的服务器上。',
  signIn: '登录',
  signUp: '注册',
  signInTitle: '欢迎回来',
  signUpTitle: '创建账号',
  username: '用户名',
  displayName: '昵称',
  password: '密码',
  passwordHint: '至少 8 个字符',
  haveAccount: '已有账号？',
  noAccount: '还没有账号？',
  signOut: '退出登录',
  contacts: '联系人',
  history: '通话记录',
  settings: '设置',
  search: '按名字搜索',
  noMatches: '没有找到“{q}”。',
  noContacts: '还没有其他人注册。在另一个浏览器打开本页并注册第二个账号。',
  audioCallTo: '语音呼叫 {name}',
  videoCallTo: '视频呼叫 {name}',
  noHistory: '还没有通话。去联系人里呼叫一位吧。',
  loadMore: '加载更多',
  outgoing: '呼出',
  incoming: '呼入',
  missed: '未接',
  today: '今天',
  yesterday: '昨天',
  language: '语言',
  devices: '设备',
  showDeviceNames: '允许使用摄像头和麦克风以显示设备名称',
  account: '账号',
  online: '在线',
  connecting: '连接中…',
  offline: '离线',
  USERNAME_TAKEN: '该用户名已被占用。',
  BAD_CREDENTIALS: '用户名或密码错误。',
  TOO_MANY_ATTEMPTS: '尝试次数过多，请一分钟后再试。',
  INVALID_PARAMS: '请检查填写内容：{detail}',
  NOT_SIGNED_IN: '请先登录。',
  UNKNOWN: '出错了（{code}）。',
}

const CATALOG: Record<Locale, Record<DemoKey, string>> = { en, 'zh-CN': zhCN }

export type DemoTranslate = (key: DemoKey, params?: Record<string, string>) => string

export function demoTranslator(locale: Locale): DemoTranslate {
  return catalogTranslator(CATALOG[locale])
}

export function isDemoKey(key: string): key is DemoKey {
  return key in en
}
