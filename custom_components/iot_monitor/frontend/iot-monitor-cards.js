var F=globalThis,V=F.ShadowRoot&&(F.ShadyCSS===void 0||F.ShadyCSS.nativeShadow)&&"adoptedStyleSheets"in Document.prototype&&"replace"in CSSStyleSheet.prototype,X=Symbol(),ut=new WeakMap,M=class{constructor(t,e,s){if(this._$cssResult$=!0,s!==X)throw Error("CSSResult is not constructable. Use `unsafeCSS` or `css` instead.");this.cssText=t,this.t=e}get styleSheet(){let t=this.o,e=this.t;if(V&&t===void 0){let s=e!==void 0&&e.length===1;s&&(t=ut.get(e)),t===void 0&&((this.o=t=new CSSStyleSheet).replaceSync(this.cssText),s&&ut.set(e,t))}return t}toString(){return this.cssText}},mt=n=>new M(typeof n=="string"?n:n+"",void 0,X),N=(n,...t)=>{let e=n.length===1?n[0]:t.reduce((s,i,r)=>s+(o=>{if(o._$cssResult$===!0)return o.cssText;if(typeof o=="number")return o;throw Error("Value passed to 'css' function must be a 'css' function result: "+o+". Use 'unsafeCSS' to pass non-literal values, but take care to ensure page security.")})(i)+n[r+1],n[0]);return new M(e,n,X)},ft=(n,t)=>{if(V)n.adoptedStyleSheets=t.map(e=>e instanceof CSSStyleSheet?e:e.styleSheet);else for(let e of t){let s=document.createElement("style"),i=F.litNonce;i!==void 0&&s.setAttribute("nonce",i),s.textContent=e.cssText,n.appendChild(s)}},tt=V?n=>n:n=>n instanceof CSSStyleSheet?(t=>{let e="";for(let s of t.cssRules)e+=s.cssText;return mt(e)})(n):n;var{is:Tt,defineProperty:Mt,getOwnPropertyDescriptor:Nt,getOwnPropertyNames:Rt,getOwnPropertySymbols:zt,getPrototypeOf:Ht}=Object,K=globalThis,gt=K.trustedTypes,Lt=gt?gt.emptyScript:"",Bt=K.reactiveElementPolyfillSupport,R=(n,t)=>n,et={toAttribute(n,t){switch(t){case Boolean:n=n?Lt:null;break;case Object:case Array:n=n==null?n:JSON.stringify(n)}return n},fromAttribute(n,t){let e=n;switch(t){case Boolean:e=n!==null;break;case Number:e=n===null?null:Number(n);break;case Object:case Array:try{e=JSON.parse(n)}catch{e=null}}return e}},$t=(n,t)=>!Tt(n,t),_t={attribute:!0,type:String,converter:et,reflect:!1,useDefault:!1,hasChanged:$t};Symbol.metadata??=Symbol("metadata"),K.litPropertyMetadata??=new WeakMap;var $=class extends HTMLElement{static addInitializer(t){this._$Ei(),(this.l??=[]).push(t)}static get observedAttributes(){return this.finalize(),this._$Eh&&[...this._$Eh.keys()]}static createProperty(t,e=_t){if(e.state&&(e.attribute=!1),this._$Ei(),this.prototype.hasOwnProperty(t)&&((e=Object.create(e)).wrapped=!0),this.elementProperties.set(t,e),!e.noAccessor){let s=Symbol(),i=this.getPropertyDescriptor(t,s,e);i!==void 0&&Mt(this.prototype,t,i)}}static getPropertyDescriptor(t,e,s){let{get:i,set:r}=Nt(this.prototype,t)??{get(){return this[e]},set(o){this[e]=o}};return{get:i,set(o){let c=i?.call(this);r?.call(this,o),this.requestUpdate(t,c,s)},configurable:!0,enumerable:!0}}static getPropertyOptions(t){return this.elementProperties.get(t)??_t}static _$Ei(){if(this.hasOwnProperty(R("elementProperties")))return;let t=Ht(this);t.finalize(),t.l!==void 0&&(this.l=[...t.l]),this.elementProperties=new Map(t.elementProperties)}static finalize(){if(this.hasOwnProperty(R("finalized")))return;if(this.finalized=!0,this._$Ei(),this.hasOwnProperty(R("properties"))){let e=this.properties,s=[...Rt(e),...zt(e)];for(let i of s)this.createProperty(i,e[i])}let t=this[Symbol.metadata];if(t!==null){let e=litPropertyMetadata.get(t);if(e!==void 0)for(let[s,i]of e)this.elementProperties.set(s,i)}this._$Eh=new Map;for(let[e,s]of this.elementProperties){let i=this._$Eu(e,s);i!==void 0&&this._$Eh.set(i,e)}this.elementStyles=this.finalizeStyles(this.styles)}static finalizeStyles(t){let e=[];if(Array.isArray(t)){let s=new Set(t.flat(1/0).reverse());for(let i of s)e.unshift(tt(i))}else t!==void 0&&e.push(tt(t));return e}static _$Eu(t,e){let s=e.attribute;return s===!1?void 0:typeof s=="string"?s:typeof t=="string"?t.toLowerCase():void 0}constructor(){super(),this._$Ep=void 0,this.isUpdatePending=!1,this.hasUpdated=!1,this._$Em=null,this._$Ev()}_$Ev(){this._$ES=new Promise(t=>this.enableUpdating=t),this._$AL=new Map,this._$E_(),this.requestUpdate(),this.constructor.l?.forEach(t=>t(this))}addController(t){(this._$EO??=new Set).add(t),this.renderRoot!==void 0&&this.isConnected&&t.hostConnected?.()}removeController(t){this._$EO?.delete(t)}_$E_(){let t=new Map,e=this.constructor.elementProperties;for(let s of e.keys())this.hasOwnProperty(s)&&(t.set(s,this[s]),delete this[s]);t.size>0&&(this._$Ep=t)}createRenderRoot(){let t=this.shadowRoot??this.attachShadow(this.constructor.shadowRootOptions);return ft(t,this.constructor.elementStyles),t}connectedCallback(){this.renderRoot??=this.createRenderRoot(),this.enableUpdating(!0),this._$EO?.forEach(t=>t.hostConnected?.())}enableUpdating(t){}disconnectedCallback(){this._$EO?.forEach(t=>t.hostDisconnected?.())}attributeChangedCallback(t,e,s){this._$AK(t,s)}_$ET(t,e){let s=this.constructor.elementProperties.get(t),i=this.constructor._$Eu(t,s);if(i!==void 0&&s.reflect===!0){let r=(s.converter?.toAttribute!==void 0?s.converter:et).toAttribute(e,s.type);this._$Em=t,r==null?this.removeAttribute(i):this.setAttribute(i,r),this._$Em=null}}_$AK(t,e){let s=this.constructor,i=s._$Eh.get(t);if(i!==void 0&&this._$Em!==i){let r=s.getPropertyOptions(i),o=typeof r.converter=="function"?{fromAttribute:r.converter}:r.converter?.fromAttribute!==void 0?r.converter:et;this._$Em=i;let c=o.fromAttribute(e,r.type);this[i]=c??this._$Ej?.get(i)??c,this._$Em=null}}requestUpdate(t,e,s,i=!1,r){if(t!==void 0){let o=this.constructor;if(i===!1&&(r=this[t]),s??=o.getPropertyOptions(t),!((s.hasChanged??$t)(r,e)||s.useDefault&&s.reflect&&r===this._$Ej?.get(t)&&!this.hasAttribute(o._$Eu(t,s))))return;this.C(t,e,s)}this.isUpdatePending===!1&&(this._$ES=this._$EP())}C(t,e,{useDefault:s,reflect:i,wrapped:r},o){s&&!(this._$Ej??=new Map).has(t)&&(this._$Ej.set(t,o??e??this[t]),r!==!0||o!==void 0)||(this._$AL.has(t)||(this.hasUpdated||s||(e=void 0),this._$AL.set(t,e)),i===!0&&this._$Em!==t&&(this._$Eq??=new Set).add(t))}async _$EP(){this.isUpdatePending=!0;try{await this._$ES}catch(e){Promise.reject(e)}let t=this.scheduleUpdate();return t!=null&&await t,!this.isUpdatePending}scheduleUpdate(){return this.performUpdate()}performUpdate(){if(!this.isUpdatePending)return;if(!this.hasUpdated){if(this.renderRoot??=this.createRenderRoot(),this._$Ep){for(let[i,r]of this._$Ep)this[i]=r;this._$Ep=void 0}let s=this.constructor.elementProperties;if(s.size>0)for(let[i,r]of s){let{wrapped:o}=r,c=this[i];o!==!0||this._$AL.has(i)||c===void 0||this.C(i,void 0,r,c)}}let t=!1,e=this._$AL;try{t=this.shouldUpdate(e),t?(this.willUpdate(e),this._$EO?.forEach(s=>s.hostUpdate?.()),this.update(e)):this._$EM()}catch(s){throw t=!1,this._$EM(),s}t&&this._$AE(e)}willUpdate(t){}_$AE(t){this._$EO?.forEach(e=>e.hostUpdated?.()),this.hasUpdated||(this.hasUpdated=!0,this.firstUpdated(t)),this.updated(t)}_$EM(){this._$AL=new Map,this.isUpdatePending=!1}get updateComplete(){return this.getUpdateComplete()}getUpdateComplete(){return this._$ES}shouldUpdate(t){return!0}update(t){this._$Eq&&=this._$Eq.forEach(e=>this._$ET(e,this[e])),this._$EM()}updated(t){}firstUpdated(t){}};$.elementStyles=[],$.shadowRootOptions={mode:"open"},$[R("elementProperties")]=new Map,$[R("finalized")]=new Map,Bt?.({ReactiveElement:$}),(K.reactiveElementVersions??=[]).push("2.1.2");var ct=globalThis,bt=n=>n,W=ct.trustedTypes,vt=W?W.createPolicy("lit-html",{createHTML:n=>n}):void 0,St="$lit$",v=`lit$${Math.random().toFixed(9).slice(2)}$`,Et="?"+v,It=`<${Et}>`,k=document,H=()=>k.createComment(""),L=n=>n===null||typeof n!="object"&&typeof n!="function",dt=Array.isArray,Dt=n=>dt(n)||typeof n?.[Symbol.iterator]=="function",st=`[ 	
\f\r]`,z=/<(?:(!--|\/[^a-zA-Z])|(\/?[a-zA-Z][^>\s]*)|(\/?$))/g,yt=/-->/g,xt=/>/g,A=RegExp(`>|${st}(?:([^\\s"'>=/]+)(${st}*=${st}*(?:[^ 	
\f\r"'\`<>=]|("|')|))|$)`,"g"),At=/'/g,wt=/"/g,Ct=/^(?:script|style|textarea|title)$/i,lt=n=>(t,...e)=>({_$litType$:n,strings:t,values:e}),m=lt(1),se=lt(2),ie=lt(3),S=Symbol.for("lit-noChange"),h=Symbol.for("lit-nothing"),kt=new WeakMap,w=k.createTreeWalker(k,129);function Pt(n,t){if(!dt(n)||!n.hasOwnProperty("raw"))throw Error("invalid template strings array");return vt!==void 0?vt.createHTML(t):t}var jt=(n,t)=>{let e=n.length-1,s=[],i,r=t===2?"<svg>":t===3?"<math>":"",o=z;for(let c=0;c<e;c++){let a=n[c],l,u,d=-1,f=0;for(;f<a.length&&(o.lastIndex=f,u=o.exec(a),u!==null);)f=o.lastIndex,o===z?u[1]==="!--"?o=yt:u[1]!==void 0?o=xt:u[2]!==void 0?(Ct.test(u[2])&&(i=RegExp("</"+u[2],"g")),o=A):u[3]!==void 0&&(o=A):o===A?u[0]===">"?(o=i??z,d=-1):u[1]===void 0?d=-2:(d=o.lastIndex-u[2].length,l=u[1],o=u[3]===void 0?A:u[3]==='"'?wt:At):o===wt||o===At?o=A:o===yt||o===xt?o=z:(o=A,i=void 0);let b=o===A&&n[c+1].startsWith("/>")?" ":"";r+=o===z?a+It:d>=0?(s.push(l),a.slice(0,d)+St+a.slice(d)+v+b):a+v+(d===-2?c:b)}return[Pt(n,r+(n[e]||"<?>")+(t===2?"</svg>":t===3?"</math>":"")),s]},B=class n{constructor({strings:t,_$litType$:e},s){let i;this.parts=[];let r=0,o=0,c=t.length-1,a=this.parts,[l,u]=jt(t,e);if(this.el=n.createElement(l,s),w.currentNode=this.el.content,e===2||e===3){let d=this.el.content.firstChild;d.replaceWith(...d.childNodes)}for(;(i=w.nextNode())!==null&&a.length<c;){if(i.nodeType===1){if(i.hasAttributes())for(let d of i.getAttributeNames())if(d.endsWith(St)){let f=u[o++],b=i.getAttribute(d).split(v),j=/([.?@])?(.*)/.exec(f);a.push({type:1,index:r,name:j[2],strings:b,ctor:j[1]==="."?nt:j[1]==="?"?rt:j[1]==="@"?ot:O}),i.removeAttribute(d)}else d.startsWith(v)&&(a.push({type:6,index:r}),i.removeAttribute(d));if(Ct.test(i.tagName)){let d=i.textContent.split(v),f=d.length-1;if(f>0){i.textContent=W?W.emptyScript:"";for(let b=0;b<f;b++)i.append(d[b],H()),w.nextNode(),a.push({type:2,index:++r});i.append(d[f],H())}}}else if(i.nodeType===8)if(i.data===Et)a.push({type:2,index:r});else{let d=-1;for(;(d=i.data.indexOf(v,d+1))!==-1;)a.push({type:7,index:r}),d+=v.length-1}r++}}static createElement(t,e){let s=k.createElement("template");return s.innerHTML=t,s}};function P(n,t,e=n,s){if(t===S)return t;let i=s!==void 0?e._$Co?.[s]:e._$Cl,r=L(t)?void 0:t._$litDirective$;return i?.constructor!==r&&(i?._$AO?.(!1),r===void 0?i=void 0:(i=new r(n),i._$AT(n,e,s)),s!==void 0?(e._$Co??=[])[s]=i:e._$Cl=i),i!==void 0&&(t=P(n,i._$AS(n,t.values),i,s)),t}var it=class{constructor(t,e){this._$AV=[],this._$AN=void 0,this._$AD=t,this._$AM=e}get parentNode(){return this._$AM.parentNode}get _$AU(){return this._$AM._$AU}u(t){let{el:{content:e},parts:s}=this._$AD,i=(t?.creationScope??k).importNode(e,!0);w.currentNode=i;let r=w.nextNode(),o=0,c=0,a=s[0];for(;a!==void 0;){if(o===a.index){let l;a.type===2?l=new I(r,r.nextSibling,this,t):a.type===1?l=new a.ctor(r,a.name,a.strings,this,t):a.type===6&&(l=new at(r,this,t)),this._$AV.push(l),a=s[++c]}o!==a?.index&&(r=w.nextNode(),o++)}return w.currentNode=k,i}p(t){let e=0;for(let s of this._$AV)s!==void 0&&(s.strings!==void 0?(s._$AI(t,s,e),e+=s.strings.length-2):s._$AI(t[e])),e++}},I=class n{get _$AU(){return this._$AM?._$AU??this._$Cv}constructor(t,e,s,i){this.type=2,this._$AH=h,this._$AN=void 0,this._$AA=t,this._$AB=e,this._$AM=s,this.options=i,this._$Cv=i?.isConnected??!0}get parentNode(){let t=this._$AA.parentNode,e=this._$AM;return e!==void 0&&t?.nodeType===11&&(t=e.parentNode),t}get startNode(){return this._$AA}get endNode(){return this._$AB}_$AI(t,e=this){t=P(this,t,e),L(t)?t===h||t==null||t===""?(this._$AH!==h&&this._$AR(),this._$AH=h):t!==this._$AH&&t!==S&&this._(t):t._$litType$!==void 0?this.$(t):t.nodeType!==void 0?this.T(t):Dt(t)?this.k(t):this._(t)}O(t){return this._$AA.parentNode.insertBefore(t,this._$AB)}T(t){this._$AH!==t&&(this._$AR(),this._$AH=this.O(t))}_(t){this._$AH!==h&&L(this._$AH)?this._$AA.nextSibling.data=t:this.T(k.createTextNode(t)),this._$AH=t}$(t){let{values:e,_$litType$:s}=t,i=typeof s=="number"?this._$AC(t):(s.el===void 0&&(s.el=B.createElement(Pt(s.h,s.h[0]),this.options)),s);if(this._$AH?._$AD===i)this._$AH.p(e);else{let r=new it(i,this),o=r.u(this.options);r.p(e),this.T(o),this._$AH=r}}_$AC(t){let e=kt.get(t.strings);return e===void 0&&kt.set(t.strings,e=new B(t)),e}k(t){dt(this._$AH)||(this._$AH=[],this._$AR());let e=this._$AH,s,i=0;for(let r of t)i===e.length?e.push(s=new n(this.O(H()),this.O(H()),this,this.options)):s=e[i],s._$AI(r),i++;i<e.length&&(this._$AR(s&&s._$AB.nextSibling,i),e.length=i)}_$AR(t=this._$AA.nextSibling,e){for(this._$AP?.(!1,!0,e);t!==this._$AB;){let s=bt(t).nextSibling;bt(t).remove(),t=s}}setConnected(t){this._$AM===void 0&&(this._$Cv=t,this._$AP?.(t))}},O=class{get tagName(){return this.element.tagName}get _$AU(){return this._$AM._$AU}constructor(t,e,s,i,r){this.type=1,this._$AH=h,this._$AN=void 0,this.element=t,this.name=e,this._$AM=i,this.options=r,s.length>2||s[0]!==""||s[1]!==""?(this._$AH=Array(s.length-1).fill(new String),this.strings=s):this._$AH=h}_$AI(t,e=this,s,i){let r=this.strings,o=!1;if(r===void 0)t=P(this,t,e,0),o=!L(t)||t!==this._$AH&&t!==S,o&&(this._$AH=t);else{let c=t,a,l;for(t=r[0],a=0;a<r.length-1;a++)l=P(this,c[s+a],e,a),l===S&&(l=this._$AH[a]),o||=!L(l)||l!==this._$AH[a],l===h?t=h:t!==h&&(t+=(l??"")+r[a+1]),this._$AH[a]=l}o&&!i&&this.j(t)}j(t){t===h?this.element.removeAttribute(this.name):this.element.setAttribute(this.name,t??"")}},nt=class extends O{constructor(){super(...arguments),this.type=3}j(t){this.element[this.name]=t===h?void 0:t}},rt=class extends O{constructor(){super(...arguments),this.type=4}j(t){this.element.toggleAttribute(this.name,!!t&&t!==h)}},ot=class extends O{constructor(t,e,s,i,r){super(t,e,s,i,r),this.type=5}_$AI(t,e=this){if((t=P(this,t,e,0)??h)===S)return;let s=this._$AH,i=t===h&&s!==h||t.capture!==s.capture||t.once!==s.once||t.passive!==s.passive,r=t!==h&&(s===h||i);i&&this.element.removeEventListener(this.name,this,s),r&&this.element.addEventListener(this.name,this,t),this._$AH=t}handleEvent(t){typeof this._$AH=="function"?this._$AH.call(this.options?.host??this.element,t):this._$AH.handleEvent(t)}},at=class{constructor(t,e,s){this.element=t,this.type=6,this._$AN=void 0,this._$AM=e,this.options=s}get _$AU(){return this._$AM._$AU}_$AI(t){P(this,t)}};var Ft=ct.litHtmlPolyfillSupport;Ft?.(B,I),(ct.litHtmlVersions??=[]).push("3.3.3");var Ot=(n,t,e)=>{let s=e?.renderBefore??t,i=s._$litPart$;if(i===void 0){let r=e?.renderBefore??null;s._$litPart$=i=new I(t.insertBefore(H(),r),r,void 0,e??{})}return i._$AI(n),i};var ht=globalThis,g=class extends ${constructor(){super(...arguments),this.renderOptions={host:this},this._$Do=void 0}createRenderRoot(){let t=super.createRenderRoot();return this.renderOptions.renderBefore??=t.firstChild,t}update(t){let e=this.render();this.hasUpdated||(this.renderOptions.isConnected=this.isConnected),super.update(t),this._$Do=Ot(e,this.renderRoot,this.renderOptions)}connectedCallback(){super.connectedCallback(),this._$Do?.setConnected(!0)}disconnectedCallback(){super.disconnectedCallback(),this._$Do?.setConnected(!1)}render(){return S}};g._$litElement$=!0,g.finalized=!0,ht.litElementHydrateSupport?.({LitElement:g});var Vt=ht.litElementPolyfillSupport;Vt?.({LitElement:g});(ht.litElementVersions??=[]).push("4.2.2");var E=null;function C(n){if(!E||E.entities!==n.entities||E.connection!==n.connection){let t=n.connection.sendMessagePromise({type:"iot_monitor/cards/layout"});E={entities:n.entities,connection:n.connection,promise:t},t.catch(()=>{E?.promise===t&&(E=null)})}return E.promise}function D(n,t){return n.bridges.find(e=>e.id===t)??(t?void 0:n.bridges[0])}function x(n,t){return t?n.states[t]:void 0}function _(n,t){let e=x(n,t)?.state;if(e===void 0||e===""||e==="unknown"||e==="unavailable")return;let s=Number(e);return Number.isFinite(s)?s:void 0}var y=class extends g{static properties={hass:{attribute:!1},_config:{state:!0},_layout:{state:!0}};getGridOptions(){return{columns:12,min_columns:6,rows:"auto"}}shouldUpdate(t){if(t.size>1||!t.has("hass"))return!0;let e=t.get("hass");return!e||e.locale!==this.hass.locale||e.entities!==this.hass.entities?!0:this._watched().some(s=>e.states[s]!==this.hass.states[s])}updated(t){t.has("hass")&&this.hass&&C(this.hass).then(e=>{e!==this._layout&&(this._layout=e),this._layoutFailed(void 0)},e=>this._layoutFailed(e.message??String(e)))}};var q={en:{fleet_name:"iot-monitor fleet",fleet_description:"One row per device of a bridge: the latest window's mean, min and max, the bridge's connectivity and broker.",vending_name:"iot-monitor vending machine",vending_description:"A bridge's vending machine: state, credit, products with price and stock, and buttons that act on it.",loading:"Loading\u2026",no_bridge:"No iot-monitor bridge is set up.",no_machine:"This bridge has no vending machine.",online:"Online",offline:"Offline",unknown:"Unknown",broker:"Broker",crossed:"Thresholds crossed: {count}",devices:"{count} devices",window:"Latest window: mean, and the range from min to max",credit:"Credit",price:"Price",stock:"Stock",left:"{count} left",sold_out:"Sold out",select:"Select",selected:"Selected",pay:"Pay",cancel:"Cancel",add_credit:"+ {amount}",manage:"Manage",restock:"Restock +{count}",set_price:"Set price",done:"Done",failed:"Failed: {message}",sensor_temperature:"Temperature",sensor_humidity:"Humidity",sensor_battery:"Battery",state_idle:"Idle",state_awaiting_payment:"Awaiting payment",state_dispensing:"Dispensing",state_out_of_stock:"Out of stock",state_out_of_service:"Out of service",state_needs_attention:"Needs attention",editor_title:"Title (optional)",editor_bridge:"Bridge",editor_sensors:"Sensors (all when empty)",editor_machine:"Vending machine",editor_credit_amounts:"Credit buttons (amounts in the smallest unit)",editor_restock_count:"Restock by",editor_manage:"Show restock and price controls (administrators)"},id:{fleet_name:"Armada iot-monitor",fleet_description:"Satu baris per perangkat bridge: rata-rata, minimum dan maksimum jendela terakhir, konektivitas dan broker bridge.",vending_name:"Mesin penjual iot-monitor",vending_description:"Mesin penjual sebuah bridge: status, kredit, produk dengan harga dan stok, serta tombol untuk mengendalikannya.",loading:"Memuat\u2026",no_bridge:"Belum ada bridge iot-monitor yang disiapkan.",no_machine:"Bridge ini tidak memiliki mesin penjual.",online:"Daring",offline:"Luring",unknown:"Tidak diketahui",broker:"Broker",crossed:"Ambang terlampaui: {count}",devices:"{count} perangkat",window:"Jendela terakhir: rata-rata, dan rentang dari minimum ke maksimum",credit:"Kredit",price:"Harga",stock:"Stok",left:"sisa {count}",sold_out:"Habis",select:"Pilih",selected:"Dipilih",pay:"Bayar",cancel:"Batal",add_credit:"+ {amount}",manage:"Kelola",restock:"Isi ulang +{count}",set_price:"Ubah harga",done:"Selesai",failed:"Gagal: {message}",sensor_temperature:"Suhu",sensor_humidity:"Kelembapan",sensor_battery:"Baterai",state_idle:"Siaga",state_awaiting_payment:"Menunggu pembayaran",state_dispensing:"Mengeluarkan produk",state_out_of_stock:"Stok habis",state_out_of_service:"Tidak beroperasi",state_needs_attention:"Perlu perhatian",editor_title:"Judul (opsional)",editor_bridge:"Bridge",editor_sensors:"Sensor (semua jika kosong)",editor_machine:"Mesin penjual",editor_credit_amounts:"Tombol kredit (jumlah dalam satuan terkecil)",editor_restock_count:"Isi ulang sebanyak",editor_manage:"Tampilkan kontrol isi ulang dan harga (administrator)"}};function Kt(n){let t=(n?.locale?.language||n?.language||"en").split("-")[0];return t in q?t:"en"}function p(n,t,e={}){return(q[Kt(n)][t]??q.en[t]??t).replace(/\{(\w+)\}/g,(i,r)=>String(e[r]??""))}function U(n){return n in q.en}function T(n,t,e){let s=e===void 0?{}:{minimumFractionDigits:e,maximumFractionDigits:e};try{return new Intl.NumberFormat(n?.locale?.language||n?.language||"en",s).format(t)}catch{return String(t)}}var J=class extends g{static properties={hass:{attribute:!1},_config:{state:!0},_layout:{state:!0}};setConfig(t){this._config=t}updated(t){t.has("hass")&&this.hass&&!this._layout&&C(this.hass).then(e=>this._layout=e)}render(){return!this.hass||!this._config?h:m`
      <ha-form
        .hass=${this.hass}
        .data=${this._data()}
        .schema=${this._schema(this._layout??{bridges:[]})}
        .computeLabel=${t=>p(this.hass,`editor_${t.name}`)}
        @value-changed=${this._changed}
      ></ha-form>
    `}_data(){return this._config}_changed(t){let e={...this._fromForm(t.detail.value)};for(let[s,i]of Object.entries(e))(i===""||i===void 0||Array.isArray(i)&&!i.length)&&delete e[s];this._config=e,this.dispatchEvent(new CustomEvent("config-changed",{detail:{config:e},bubbles:!0,composed:!0}))}_fromForm(t){return t}},pt=(n,t)=>({value:n,label:t}),Wt=["500","1000","2000","5000","10000"],G=class extends J{_sensorName(t){return U(`sensor_${t}`)?p(this.hass,`sensor_${t}`):t.replace(/_/g," ")}_schema(t){let e=t.bridges.find(i=>i.id===this._config.bridge)??t.bridges[0],s=[...new Set(e?.devices.flatMap(i=>i.sensors.map(r=>r.id))??[])];return[{name:"title",selector:{text:{}}},{name:"bridge",selector:{select:{mode:"dropdown",options:t.bridges.map(i=>pt(i.id,i.name))}}},{name:"sensors",selector:{select:{multiple:!0,mode:"list",options:s.map(i=>pt(i,this._sensorName(i)))}}}]}},Y=class extends J{_schema(t){let e=t.bridges.flatMap(s=>s.machines.map(i=>pt(`${s.id}/${i.id}`,`${i.name} (${s.name})`)));return[{name:"title",selector:{text:{}}},{name:"machine",selector:{select:{mode:"dropdown",options:e}}},{name:"credit_amounts",selector:{select:{multiple:!0,custom_value:!0,options:Wt}}},{name:"restock_count",selector:{number:{min:1,max:1e6,mode:"box"}}},{name:"manage",selector:{boolean:{}}}]}_data(){let{bridge:t,machine:e,credit_amounts:s,...i}=this._config;return{...i,machine:t&&e?`${t}/${e}`:void 0,credit_amounts:s?.map(String),manage:this._config.manage!==!1}}_fromForm(t){let{machine:e,credit_amounts:s,manage:i,...r}=t,[o,c]=e?e.split("/"):[],a=(s??[]).map(Number).filter(l=>Number.isInteger(l)&&l>0);return{...r,bridge:o,machine:c,credit_amounts:a,manage:i?void 0:!1}}};var Z=class extends y{static properties={...y.properties,_error:{state:!0}};static getConfigElement(){return document.createElement("iot-monitor-fleet-card-editor")}static async getStubConfig(t){try{let e=D(await C(t));return e?{bridge:e.id}:{}}catch{return{}}}setConfig(t){if(t.sensors!==void 0&&!Array.isArray(t.sensors))throw new Error("sensors must be a list of sensor ids");this._config=t}getCardSize(){return 2+(this._bridge()?.devices.length??4)}_layoutFailed(t){this._error=t}_bridge(){return this._layout?D(this._layout,this._config?.bridge):void 0}_sensorIds(t){if(this._config?.sensors?.length)return this._config.sensors;let e=[];for(let s of t.devices)for(let i of s.sensors)e.includes(i.id)||e.push(i.id);return e}_watched(){let t=this._bridge();if(!t)return[];let e=[t.connectivity,t.broker,...t.thresholds.map(s=>s.entity_id)];for(let s of t.devices)for(let i of s.sensors)e.push(i.mean,i.min,i.max);return e.filter(Boolean)}render(){if(!this.hass||!this._config)return h;let t=this._bridge();if(!t){let r=this._error??p(this.hass,this._layout?"no_bridge":"loading");return m`<ha-card .header=${this._config.title}><div class="empty">${r}</div></ha-card>`}let s=this._sensorIds(t).map(r=>this._column(t,r)),i=t.thresholds.filter(r=>x(this.hass,r.entity_id)?.state==="on");return m`
      <ha-card>
        <div class="header">
          <div class="title">
            <div class="name">${this._config.title||t.name}</div>
            <div class="sub">${p(this.hass,"devices",{count:t.devices.length})}</div>
          </div>
          <div class="chips">
            ${i.length?m`<div class="chip crossed" title=${i.map(r=>r.name).join(`
`)}>
                  <ha-icon icon="mdi:alert-circle"></ha-icon>${p(this.hass,"crossed",{count:i.length})}
                </div>`:h}
            ${this._connectivity(t)} ${this._broker(t)}
          </div>
        </div>
        <div class="table" style="--columns: ${s.length}">
          <div class="row head">
            <div class="device"></div>
            ${s.map(r=>m`<div class="cell label">${r.label}</div>`)}
          </div>
          ${t.devices.map(r=>this._row(r,s,i))}
        </div>
        <div class="note">${p(this.hass,"window")}</div>
      </ha-card>
    `}_column(t,e){let s=1/0,i=-1/0,r="";for(let l of t.devices){let u=l.sensors.find(d=>d.id===e);if(u){r||=u.unit??"";for(let d of[_(this.hass,u.min),_(this.hass,u.max)])d!==void 0&&(s=Math.min(s,d),i=Math.max(i,d))}}let o=(i-s)*.08,c=`sensor_${e}`,a=U(c)?p(this.hass,c):e.replace(/_/g," ");return{id:e,low:s-o,high:i+o,label:r?`${a} (${r})`:a}}_row(t,e,s){let i=s.filter(o=>o.sensor.startsWith(`${t.id}/`)),r=new Set(i.map(o=>o.sensor.slice(t.id.length+1)));return m`
      <div class="row device-row ${i.length?"problem":""}" data-device=${t.id}>
        <div class="device" title=${[t.name,...i.map(o=>o.name)].join(`
`)}>
          ${i.length?m`<ha-icon class="alert" icon="mdi:alert-circle"></ha-icon>`:h}${t.name}
        </div>
        ${e.map(o=>this._cell(t.sensors.find(c=>c.id===o.id),o,r.has(o.id)))}
      </div>
    `}_cell(t,e,s){if(!t)return m`<div class="cell"></div>`;let i=_(this.hass,t.mean),r=_(this.hass,t.min),o=_(this.hass,t.max),c=e.high-e.low||1,a=d=>`${((d-e.low)/c*100).toFixed(1)}%`,l=this.hass.entities?.[t.mean]?.display_precision??1,u=r!==void 0&&o!==void 0;return m`
      <div class="cell ${s?"problem":""}" data-sensor=${t.id} @click=${()=>this._moreInfo(t.mean)}>
        <div class="bar">
          ${u?m`<div class="span" style="left: ${a(r)}; width: calc(${a(o)} - ${a(r)})"></div>`:h}
          ${i!==void 0?m`<div class="mean" style="left: ${a(i)}"></div>`:h}
        </div>
        <div class="value">${i!==void 0?T(this.hass,i,l):"\u2014"}</div>
      </div>
    `}_connectivity(t){let e=x(this.hass,t.connectivity)?.state,s=e==="on"?"online":e==="off"?"offline":"unknown";return m`
      <div class="chip ${s}" @click=${()=>this._moreInfo(t.connectivity)}>
        <span class="dot"></span>${p(this.hass,s)}
      </div>
    `}_broker(t){let e=x(this.hass,t.broker)?.state,s=e&&e!=="unknown"&&e!=="unavailable"?e:"\u2014";return m`
      <div class="chip broker" title=${p(this.hass,"broker")} @click=${()=>this._moreInfo(t.broker)}>
        <ha-icon icon="mdi:server-network"></ha-icon>${s}
      </div>
    `}_moreInfo(t){t&&this.dispatchEvent(new CustomEvent("hass-more-info",{detail:{entityId:t},bubbles:!0,composed:!0}))}static styles=N`
    ha-card {
      padding: 16px;
      box-sizing: border-box;
    }
    .empty {
      padding: 16px;
      color: var(--secondary-text-color);
    }
    .header {
      display: flex;
      align-items: center;
      gap: 8px;
      margin-bottom: 12px;
    }
    .title {
      flex: 1;
      min-width: 6em;
    }
    .chips {
      display: flex;
      flex-wrap: wrap;
      justify-content: flex-end;
      gap: 8px;
    }
    .name {
      font-size: var(--ha-font-size-xl, 20px);
      line-height: 1.3;
    }
    .sub,
    .note {
      color: var(--secondary-text-color);
      font-size: var(--ha-font-size-s, 12px);
    }
    .note {
      margin-top: 8px;
    }
    .chip {
      display: inline-flex;
      align-items: center;
      gap: 6px;
      padding: 4px 10px;
      border-radius: 16px;
      background: var(--secondary-background-color);
      font-size: var(--ha-font-size-s, 13px);
      white-space: nowrap;
      cursor: pointer;
      --mdc-icon-size: 16px;
    }
    .dot {
      width: 8px;
      height: 8px;
      border-radius: 50%;
      background: var(--disabled-text-color, #999);
    }
    .online .dot {
      background: var(--success-color, #43a047);
    }
    .offline .dot {
      background: var(--error-color, #db4437);
    }
    .table {
      display: grid;
      grid-template-columns: minmax(72px, 0.7fr) repeat(var(--columns), minmax(0, 1fr));
      column-gap: 16px;
      row-gap: 6px;
      align-items: center;
    }
    .row {
      display: contents;
    }
    .label {
      color: var(--secondary-text-color);
      font-size: var(--ha-font-size-s, 12px);
    }
    .device {
      display: flex;
      align-items: center;
      overflow: hidden;
      text-overflow: ellipsis;
      white-space: nowrap;
    }
    .cell {
      display: flex;
      align-items: center;
      gap: 8px;
      min-width: 0;
      cursor: pointer;
    }
    .head .cell {
      cursor: default;
    }
    .bar {
      position: relative;
      flex: 1;
      height: 10px;
      border-radius: 5px;
      background: var(--secondary-background-color, #eee);
      min-width: 40px;
    }
    .span {
      position: absolute;
      top: 0;
      bottom: 0;
      min-width: 4px;
      border-radius: 5px;
      background: var(--primary-color);
      opacity: 0.35;
    }
    .mean {
      position: absolute;
      top: -3px;
      width: 3px;
      height: 16px;
      margin-left: -1px;
      border-radius: 2px;
      background: var(--primary-color);
    }
    .crossed {
      color: var(--error-color, #db4437);
    }
    .alert {
      --mdc-icon-size: 18px;
      color: var(--error-color, #db4437);
      margin-inline-end: 4px;
      flex: none;
    }
    .cell.problem .span,
    .cell.problem .mean {
      background: var(--error-color, #db4437);
    }
    .cell.problem .value {
      color: var(--error-color, #db4437);
    }
    .value {
      width: 4.5em;
      text-align: end;
      font-variant-numeric: tabular-nums;
    }
  `};var qt=[1e3,5e3],Jt=10,Gt=new Set(["dispensing"]),Yt=new Set(["out_of_stock","out_of_service","needs_attention"]),Q=class extends y{static properties={...y.properties,_selected:{state:!0},_managing:{state:!0},_message:{state:!0},_pending:{state:!0}};static getConfigElement(){return document.createElement("iot-monitor-vending-card-editor")}static async getStubConfig(t){try{let s=(await C(t)).bridges.find(i=>i.machines.length);return s?{bridge:s.id,machine:s.machines[0].id}:{}}catch{return{}}}setConfig(t){let e=t.credit_amounts;if(e!==void 0&&(!Array.isArray(e)||!e.every(s=>Number.isInteger(s)&&s>0)))throw new Error("credit_amounts must be a list of positive whole amounts");this._config=t}getCardSize(){return 3+(this._machine()?.machine.products.length??3)}_layoutFailed(t){t!==void 0&&(this._message={error:!0,text:t})}updated(t){super.updated(t);let e=this._state();this._lastState==="awaiting_payment"&&e!=="awaiting_payment"&&(this._selected=void 0),this._lastState=e}_machine(){if(!this._layout)return;let t=this._config?.bridge?[D(this._layout,this._config.bridge)].filter(Boolean):this._layout.bridges;for(let e of t){let s=e.machines.find(i=>!this._config?.machine||i.id===this._config.machine);if(s)return{bridge:e,machine:s}}}_watched(){let t=this._machine();if(!t)return[];let{machine:e}=t;return[e.state,e.credit,...e.products.flatMap(s=>[s.stock,s.price])].filter(Boolean)}_state(){let t=this._machine();return t?x(this.hass,t.machine.state)?.state:void 0}async _call(t,e,s){let{bridge:i,machine:r}=this._machine();this._pending=t,this._message=void 0;try{let o={config_entry_id:i.entry_id,machine:r.id,...e};await this.hass.callService("iot_monitor",t,o,void 0,!1),s?.()}catch(o){this._message={error:!0,text:p(this.hass,"failed",{message:o.message??String(o)})}}finally{this._pending=void 0}}_fire(t,e,s){return this._call("fire_event",e?{event:t,data:e}:{event:t},s)}render(){if(!this.hass||!this._config)return h;let t=this._machine();if(!t){let f=this._layout?this._layout.bridges.length?"no_machine":"no_bridge":"loading";return m`<ha-card .header=${this._config.title}><div class="empty">${p(this.hass,f)}</div></ha-card>`}let{machine:e}=t,s=this._state(),i=_(this.hass,e.credit),r=x(this.hass,e.credit)?.attributes.unit_of_measurement??"",o=f=>f===void 0?"\u2014":`${T(this.hass,f)} ${r}`.trim(),c=`state_${s}`,a=Gt.has(s)?"busy":Yt.has(s)?"trouble":s==="idle"?"ok":"waiting",l=s==="idle"||s==="awaiting_payment",u=this._managing&&this._config.manage!==!1&&this.hass.user?.is_admin,d=this._config.credit_amounts??qt;return m`
      <ha-card>
        <div class="header">
          <div class="name">${this._config.title||e.name}</div>
          <div class="state ${a}" data-state=${s??""}>
            ${s===void 0?"\u2014":U(c)?p(this.hass,c):s}
          </div>
        </div>
        <div class="credit">
          <div class="label">${p(this.hass,"credit")}</div>
          <div class="amount" data-credit=${i??""}>${o(i)}</div>
          <div class="credit-buttons">
            ${d.map(f=>m`
                <button
                  class="credit-button"
                  ?disabled=${!l||!!this._pending}
                  @click=${()=>this._fire("credit",{amount:f})}
                >
                  ${p(this.hass,"add_credit",{amount:T(this.hass,f)})}
                </button>
              `)}
          </div>
        </div>
        <div class="products">
          ${e.products.map(f=>this._product(f,l,u,o))}
        </div>
        <div class="actions">
          <button
            class="pay primary"
            ?disabled=${s!=="awaiting_payment"||!!this._pending}
            @click=${()=>this._fire("pay")}
          >
            ${p(this.hass,"pay")}
          </button>
          <button
            class="cancel"
            ?disabled=${!l||!!this._pending}
            @click=${()=>this._fire("cancel",void 0,()=>this._selected=void 0)}
          >
            ${p(this.hass,"cancel")}
          </button>
          <span class="spacer"></span>
          ${this._config.manage!==!1&&this.hass.user?.is_admin?m`<button class="manage flat" @click=${()=>this._managing=!this._managing}>
                ${p(this.hass,this._managing?"done":"manage")}
              </button>`:h}
        </div>
        ${this._message?m`<div class="message ${this._message.error?"error":""}">${this._message.text}</div>`:h}
      </ha-card>
    `}_product(t,e,s,i){let r=_(this.hass,t.stock),o=_(this.hass,t.price),c=this._selected===t.slot,a=this._config.restock_count??Jt;return m`
      <div class="product ${c?"selected":""} ${r===0?"empty":""}" data-slot=${t.slot}>
        <div class="product-name">${t.name}</div>
        <div class="price" data-price=${o??""}>${i(o)}</div>
        <div class="stock" data-stock=${r??""}>
          ${r===void 0?"\u2014":r===0?p(this.hass,"sold_out"):p(this.hass,"left",{count:T(this.hass,r)})}
        </div>
        <button
          class="select ${c?"primary":""}"
          ?disabled=${!e||!r||!!this._pending}
          @click=${()=>this._fire("select",{slot:t.slot},()=>this._selected=t.slot)}
        >
          ${p(this.hass,c?"selected":"select")}
        </button>
        ${s?m`
              <div class="manage-controls">
                <button
                  class="restock flat"
                  ?disabled=${!!this._pending}
                  @click=${()=>this._call("restock",{slot:t.slot,count:a})}
                >
                  ${p(this.hass,"restock",{count:a})}
                </button>
                <div class="price-edit">
                  <input
                    type="number"
                    min="1"
                    step="1"
                    aria-label=${p(this.hass,"price")}
                    .value=${o===void 0?"":String(o)}
                  />
                  <button class="set-price flat" ?disabled=${!!this._pending} @click=${l=>this._setPrice(l,t)}>
                    ${p(this.hass,"set_price")}
                  </button>
                </div>
              </div>
            `:h}
      </div>
    `}_setPrice(t,e){let s=t.target.parentElement.querySelector("input"),i=Number(s.value);if(!Number.isInteger(i)||i<1){s.reportValidity();return}this._call("set_price",{slot:e.slot,price:i})}static styles=N`
    ha-card {
      padding: 16px;
      box-sizing: border-box;
    }
    .empty {
      padding: 16px;
      color: var(--secondary-text-color);
    }
    .header {
      display: flex;
      align-items: center;
      gap: 8px;
    }
    .name {
      flex: 1;
      font-size: var(--ha-font-size-xl, 20px);
    }
    .state {
      padding: 4px 12px;
      border-radius: 16px;
      font-size: var(--ha-font-size-s, 13px);
      font-weight: 500;
      color: var(--text-primary-color, #fff);
      background: var(--warning-color, #ffa600);
    }
    .state.ok {
      background: var(--success-color, #43a047);
    }
    .state.busy {
      background: var(--info-color, #039be5);
    }
    .state.trouble {
      background: var(--error-color, #db4437);
    }
    .credit {
      display: flex;
      flex-wrap: wrap;
      align-items: baseline;
      gap: 8px 12px;
      margin: 16px 0;
    }
    .credit .label {
      color: var(--secondary-text-color);
    }
    .amount {
      font-size: 28px;
      font-variant-numeric: tabular-nums;
    }
    .credit-buttons {
      margin-inline-start: auto;
      display: flex;
      gap: 8px;
    }
    .products {
      display: grid;
      grid-template-columns: repeat(auto-fill, minmax(140px, 1fr));
      gap: 12px;
    }
    .product {
      display: flex;
      flex-direction: column;
      gap: 4px;
      padding: 12px;
      border: 1px solid var(--divider-color);
      border-radius: var(--ha-card-border-radius, 12px);
    }
    .product.selected {
      border-color: var(--primary-color);
      box-shadow: 0 0 0 1px var(--primary-color);
    }
    .product.empty .product-name,
    .product.empty .price {
      color: var(--disabled-text-color);
    }
    .product-name {
      font-weight: 500;
    }
    .price {
      font-size: var(--ha-font-size-l, 16px);
      font-variant-numeric: tabular-nums;
    }
    .stock {
      color: var(--secondary-text-color);
      font-size: var(--ha-font-size-s, 13px);
      margin-bottom: 4px;
    }
    .product .select {
      margin-top: auto;
    }
    .actions {
      display: flex;
      align-items: center;
      gap: 8px;
      margin-top: 16px;
    }
    .spacer {
      flex: 1;
    }
    button {
      font: inherit;
      font-size: var(--ha-font-size-m, 14px);
      font-weight: 500;
      padding: 8px 16px;
      border-radius: 18px;
      border: 1px solid var(--primary-color);
      background: transparent;
      color: var(--primary-color);
      cursor: pointer;
    }
    button.primary {
      background: var(--primary-color);
      color: var(--text-primary-color, #fff);
    }
    button.flat {
      border-color: transparent;
    }
    button:disabled {
      cursor: default;
      border-color: var(--divider-color);
      color: var(--disabled-text-color);
      background: transparent;
    }
    .manage-controls {
      display: flex;
      flex-direction: column;
      gap: 4px;
      margin-top: 4px;
      padding-top: 8px;
      border-top: 1px solid var(--divider-color);
    }
    .price-edit {
      display: flex;
      flex-direction: column;
      gap: 4px;
    }
    .price-edit input {
      box-sizing: border-box;
      width: 100%;
      font: inherit;
      padding: 4px 8px;
      border-radius: 8px;
      border: 1px solid var(--divider-color);
      background: var(--card-background-color);
      color: var(--primary-text-color);
    }
    .manage-controls button {
      padding: 6px 8px;
    }
    .message {
      margin-top: 12px;
      color: var(--secondary-text-color);
    }
    .message.error {
      color: var(--error-color, #db4437);
    }
  `};var Zt={"iot-monitor-fleet-card":Z,"iot-monitor-fleet-card-editor":G,"iot-monitor-vending-card":Q,"iot-monitor-vending-card-editor":Y};for(let[n,t]of Object.entries(Zt))customElements.get(n)||customElements.define(n,t);var Ut={language:navigator.language};window.customCards??=[];for(let[n,t]of[["iot-monitor-fleet-card","fleet"],["iot-monitor-vending-card","vending"]])window.customCards.some(e=>e.type===n)||window.customCards.push({type:n,name:p(Ut,`${t}_name`),description:p(Ut,`${t}_description`),preview:!0,documentationURL:"https://github.com/iot-monitor/iot-monitor/blob/main/docs/integration.md#cards"});
/*! Bundled license information:

@lit/reactive-element/css-tag.js:
  (**
   * @license
   * Copyright 2019 Google LLC
   * SPDX-License-Identifier: BSD-3-Clause
   *)

@lit/reactive-element/reactive-element.js:
lit-html/lit-html.js:
lit-element/lit-element.js:
  (**
   * @license
   * Copyright 2017 Google LLC
   * SPDX-License-Identifier: BSD-3-Clause
   *)

lit-html/is-server.js:
  (**
   * @license
   * Copyright 2022 Google LLC
   * SPDX-License-Identifier: BSD-3-Clause
   *)
*/
