// The demo page: the UI kit's <ringkit-call> inside an app maker's own little app.
import '@ringkit/ui'
import { DemoApp } from './DemoApp.ts'

customElements.define('demo-app', DemoApp)
document.documentElement.lang = localStorage.getItem('ringkit-demo.locale') ?? navigator.language
